"""Collection fix for the schemathesis tests of this package."""


def pytest_collection_modifyitems(items) -> None:
    """Give each schemathesis test its operation in its id (`…[GET /api/hosts/]`), as its name already has.

    pytest 9 builds a test's id from its original name and parameters only, so every operation's test would
    otherwise share one id: reports could not tell them apart and `pytest 'file::test[GET /api/hosts/]'` could
    not select one.
    """
    for item in items:
        schemathesis_item = getattr(item, "operation_label", None) and hasattr(item.parent, "id")
        if schemathesis_item and item.nodeid != f"{item.parent.nodeid}::{item.name}":
            item._id = item.parent.id.child(item.name)
