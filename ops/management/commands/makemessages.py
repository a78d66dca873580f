"""makemessages that also collects the pages' JavaScript strings: `Rasad.t("…")` and
`Rasad.fmt("…", values)` besides Django's gettext()."""

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    xgettext_options = [*makemessages.Command.xgettext_options, "--keyword=t", "--keyword=fmt",
                        "--keyword=nt:1,2"]
