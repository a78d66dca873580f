"""OpenAPI naming: nested `InputSerializer`s are named after their view."""

from drf_spectacular.openapi import AutoSchema as BaseAutoSchema


class AutoSchema(BaseAutoSchema):
    def get_serializer_name(self, serializer, direction):
        name = super().get_serializer_name(serializer, direction)
        qualname = type(serializer).__qualname__
        if "." in qualname:
            outer, inner = qualname.split(".", 1)
            outer = outer.removesuffix("Api")
            name = outer + inner.removesuffix("Serializer")
        return name
