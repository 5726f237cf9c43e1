"""WebShop (small setting: 1,000 products, 6,910 synthetic goals), written from docs/envs.md §3."""

from repro.envs.webshop.env import WebShopConfig, WebShopEnv

__all__ = ["WebShopConfig", "WebShopEnv"]
