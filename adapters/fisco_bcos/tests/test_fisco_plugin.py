"""The FISCO BCOS plugin is installed as its own distribution and found through its entry point."""

from __future__ import annotations

from importlib.metadata import distribution

from relayer.plugins import LIGHT_CLIENT_GROUP, load


def test_light_client_entry_point_loads_the_plugin_class() -> None:
    client_class = load(LIGHT_CLIENT_GROUP, "fisco-bcos", key="--kind")
    assert client_class.__module__ == "relayer_fisco_bcos.client"
    assert client_class.__name__ == "FiscoBcosLightClient"


def test_plugin_is_its_own_distribution() -> None:
    dist = distribution("relayer-fisco-bcos")
    assert any(ep.group == LIGHT_CLIENT_GROUP and ep.name == "fisco-bcos" for ep in dist.entry_points)
    main = distribution("relayer")
    assert all(ep.name != "fisco-bcos" for ep in main.entry_points)
