"""Environments and tasks, registered by name.

``kind`` says which driver runs them: ``math`` (single-turn: prompt -> answer -> verdict) or
``agent`` (multi-turn: reset/step through :mod:`repro.rollout`). Adding one = a new module with
its config dataclass + one ``register`` line here.
"""

from repro.registry import Registry

ENVS = Registry("env")
ENVS.register("gsm8k", "repro.envs.math:GSM8K", "GSM8K grade-school math (test 1,319)", kind="math")
ENVS.register("math500", "repro.envs.math:MATH500", "MATH-500 competition math", kind="math")
ENVS.register("aime2024", "repro.envs.math:AIME2024", "AIME 2024 (30 problems)", kind="math")
ENVS.register("amc2023", "repro.envs.math:AMC2023", "AMC 2023 (40 problems)", kind="math")
ENVS.register("gpqa_diamond", "repro.envs.math:GPQADiamond", "GPQA Diamond (data not shipped)", kind="math")
ENVS.register("arith", "repro.envs.arith:Arith", "One-digit a+b-c (the CPU S-GRPO early-exit study)", kind="math")
ENVS.register("math_train", "repro.envs.math:MATHTrain", "MATH train split (S-GRPO training)", kind="math")
ENVS.register("alfworld", "repro.envs.alfworld:AlfworldEnv", "ALFWorld text games on TextWorld", kind="agent")
ENVS.register("webshop", "repro.envs.webshop:WebShopEnv", "WebShop small (1,000 products)", kind="agent")
ENVS.register("maze", "repro.envs.maze:MazeEnv", "Small text maze (the CPU-scale learning task)", kind="agent")
