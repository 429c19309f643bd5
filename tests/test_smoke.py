"""The gateway answers over HTTP on every backend."""

from tests.conftest import make_settings, running_gateway
from tests.gateway import Gateway


async def test_create_then_read_back(gateway: Gateway) -> None:
    created = await gateway.create_customer(name="Ada Lovelace", email="ada@example.com")
    data = await gateway.data(
        "query($id: ID!) { customer(id: $id) { id name email object live } }",
        {"id": created["id"]},
    )
    assert data["customer"] == {
        "id": created["id"],
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "object": "customer",
        "live": False,
    }


async def test_an_in_memory_database_reads_what_it_wrote() -> None:
    """Development's in-memory SQLite lives in the engine's one connection; the customers'
    reads borrow it rather than open an empty database of their own."""
    settings = make_settings(database_url="sqlite+aiosqlite://")
    async with running_gateway(settings) as gateway:
        created = await gateway.create_customer(name="Only in memory")
        data = await gateway.data(
            "query($id: ID!) { customer(id: $id) { name } customers { totalCount } }",
            {"id": created["id"]},
        )
    assert data == {"customer": {"name": "Only in memory"}, "customers": {"totalCount": 1}}
