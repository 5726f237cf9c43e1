"""repro: reproduce GiGPO and S-GRPO, and extend them."""

__version__ = "0.1.0"
