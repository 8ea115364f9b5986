"""HubStore implements HubStoreProtocol method for method, so a second backend has one list to meet."""

from __future__ import annotations

import inspect

from hub.store import HubStore
from hub.store.interface import HubStoreProtocol

BACKEND_OWN = {"open", "open_existing"}  # opening is each backend's own


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, callable)
        if (not name.startswith("_") or name in ("__enter__", "__exit__")) and name not in BACKEND_OWN
    }


def test_the_protocol_lists_every_public_method_of_the_store():
    store, protocol = _public(HubStore), _public(HubStoreProtocol)
    assert sorted(store.keys() - protocol.keys()) == []
    assert sorted(protocol.keys() - store.keys()) == []


def test_the_store_takes_the_parameters_the_protocol_declares():
    store, protocol = _public(HubStore), _public(HubStoreProtocol)
    for name, declared in protocol.items():
        assert list(store[name].parameters) == list(declared.parameters), name
        for param, spec in declared.parameters.items():
            assert store[name].parameters[param].kind == spec.kind, (name, param)
            assert store[name].parameters[param].default == spec.default, (name, param)
