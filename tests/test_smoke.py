"""The gateway answers over HTTP on every backend."""

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
