"""Shared serializer machinery."""

import threading

from rest_framework import serializers

_local = threading.local()


class ReusedFieldsSerializer(serializers.Serializer):
    """An input serializer whose fields are built once per thread and then reused.

    DRF deep-copies every declared field for every serializer instance: for a dozen fields
    that was the largest single cost of filing a report. Fields that keep no per-request
    state (no defaults or relations reading `context`) can be shared; a thread serves one
    request at a time, so each thread binds its own set once."""

    @property
    def fields(self):
        cache = getattr(_local, "fields", None)
        if cache is None:
            cache = _local.fields = {}
        fields = cache.get(type(self))
        if fields is None:
            fields = cache[type(self)] = serializers.Serializer.fields.func(self)
        return fields
