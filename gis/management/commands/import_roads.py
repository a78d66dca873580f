from django.core.management.base import BaseCommand, CommandError

from gis.roads import NODE_INDEX, BBox, RoadImportError, roads_import


class Command(BaseCommand):
    help = ("Import the road network from an OpenStreetMap file (.osm.pbf or .osm) into the "
            "pgRouting tables, replacing the network loaded before.")

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--bbox", help="minlon,minlat,maxlon,maxlat: keep ways with a node "
                                           "inside (to clip a national extract to a city)")
        parser.add_argument("--replace", action="store_true",
                            help="replace the loaded network (always done: the import is "
                                 "idempotent; accepted so scripts can say so)")
        parser.add_argument("--node-index", default=NODE_INDEX,
                            help="libosmium node location index (default %(default)s, on disk; "
                                 "dense_file_array for planet-size files)")
        parser.add_argument("--tmp-dir", help="where the node index is written (default: $TMPDIR)")

    def handle(self, *args, **options):
        try:
            bbox = BBox.parse(options["bbox"]) if options["bbox"] else None
            result = roads_import(path=options["file"], bbox=bbox,
                                  node_index=options["node_index"], tmp_dir=options["tmp_dir"])
        except RoadImportError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Imported {result.ways} ways as {result.edges} edges and {result.vertices} vertices "
            f"({result.snappable_vertices} snappable) in {result.seconds:.1f} s."
        )
