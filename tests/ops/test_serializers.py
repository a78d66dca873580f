import threading

from rest_framework import serializers

from ops.serializers import ReusedFieldsSerializer


class Sample(ReusedFieldsSerializer):
    name = serializers.CharField(max_length=5)
    count = serializers.IntegerField(required=False, min_value=0)
    tags = serializers.ListField(child=serializers.CharField(), required=False)


def _validated(data: dict) -> tuple[bool, dict, dict]:
    serializer = Sample(data=data)
    valid = serializer.is_valid()
    return valid, dict(serializer.validated_data) if valid else {}, dict(serializer.errors)


def test_each_instance_validates_its_own_data_with_the_shared_fields():
    first = _validated({"name": "ab", "count": "3", "tags": ["x"]})
    second = _validated({"name": "toolong", "count": -1})
    third = _validated({"name": "cd"})

    assert first == (True, {"name": "ab", "count": 3, "tags": ["x"]}, {})
    assert second[0] is False
    assert set(second[2]) == {"name", "count"}
    assert third == (True, {"name": "cd"}, {})


def test_fields_are_built_once_per_thread():
    in_thread = {}

    def run():
        in_thread["fields"] = Sample(data={}).fields

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()

    assert Sample(data={}).fields is Sample(data={"name": "a"}).fields
    assert in_thread["fields"] is not Sample(data={}).fields
