"""Every policy backend satisfies the :class:`repro.policy.base.Policy` protocol: checked on the
classes (each registered backend, vLLM's included, without importing vLLM: its module loads the
engine only inside ``from_config``) and on a real instance (the tiny model on the HF backend, and
the trainer's timing wrapper around it)."""

from __future__ import annotations

import ast
import inspect
import textwrap
import typing

import pytest

from repro.config import ModelConfig, SamplingConfig
from repro.errors import ReproError
from repro.policy import BACKENDS, load_policy
from repro.policy.base import Policy, TrainablePolicy


def _protocol_members(protocol: type) -> tuple[dict[str, inspect.Signature], set[str]]:
    """(method name -> signature, data attribute names) the protocol declares, its bases' included."""
    methods: dict[str, inspect.Signature] = {}
    attributes: set[str] = set()
    for klass in reversed(protocol.__mro__):
        if klass in (object, typing.Protocol, typing.Generic):
            continue
        attributes |= set(vars(klass).get("__annotations__", {}))
        for name, value in vars(klass).items():
            if not name.startswith("_") and (isinstance(value, classmethod) or inspect.isfunction(value)):
                methods[name] = inspect.signature(getattr(klass, name))
    return methods, attributes


def _instance_attributes(cls: type) -> set[str]:
    """Names ``__init__`` assigns on ``self`` (read from its source: no instance needed)."""
    names = set(vars(cls).get("__annotations__", {}))
    init = vars(cls).get("__init__")
    if init is None:
        return names
    tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) else []
        for target in targets:
            for leaf in ast.walk(target):
                if isinstance(leaf, ast.Attribute) and isinstance(leaf.value, ast.Name) and leaf.value.id == "self":
                    names.add(leaf.attr)
    return names


def _accepts(declared: inspect.Signature, actual: inspect.Signature) -> str | None:
    """Why a call written against ``declared`` could fail on ``actual`` (None: it cannot)."""
    kinds = inspect.Parameter
    actual_params = list(actual.parameters.values())
    positional = [p for p in actual_params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
    has_var_kw = any(p.kind is kinds.VAR_KEYWORD for p in actual_params)
    declared_names = set()
    for i, param in enumerate(p for p in declared.parameters.values() if p.kind is not kinds.VAR_KEYWORD):
        declared_names.add(param.name)
        if i >= len(positional) or positional[i].name != param.name:
            return f"parameter {i} should be {param.name!r}"
        if param.default is not kinds.empty and positional[i].default is kinds.empty:
            return f"{param.name!r} needs a default"
    if any(p.kind is kinds.VAR_KEYWORD for p in declared.parameters.values()) and not has_var_kw:
        return "should take **kwargs"
    extra = [p.name for p in actual_params if p.name not in declared_names
             and p.kind not in (kinds.VAR_KEYWORD, kinds.VAR_POSITIONAL) and p.default is kinds.empty]
    return f"extra required parameters {extra}" if extra else None


def contract_gaps(cls: type, protocol: type = Policy) -> list[str]:
    methods, attributes = _protocol_members(protocol)
    gaps = [f"no attribute {name}" for name in sorted(attributes - _instance_attributes(cls))]
    for name, declared in methods.items():
        member = inspect.getattr_static(cls, name, None)
        if member is None:
            gaps.append(f"no method {name}")
            continue
        if isinstance(inspect.getattr_static(protocol, name), classmethod) != isinstance(member, classmethod):
            gaps.append(f"{name} should {'' if isinstance(member, classmethod) else 'not '}be a classmethod")
            continue
        problem = _accepts(declared, inspect.signature(getattr(cls, name)))
        if problem:
            gaps.append(f"{name}: {problem}")
    return gaps


@pytest.mark.parametrize("backend", BACKENDS.names())
def test_every_backend_class_satisfies_the_protocol(backend):
    cls = BACKENDS.get(backend)  # imports the module only: vLLM itself loads in from_config
    assert contract_gaps(cls) == []


def test_the_hf_backend_is_trainable_in_place():
    assert contract_gaps(BACKENDS.get("hf"), TrainablePolicy) == []
    assert "no attribute model" in contract_gaps(BACKENDS.get("vllm"), TrainablePolicy)


def test_the_checker_finds_what_a_backend_lacks():
    class Partial:
        def __init__(self):
            self.tokenizer = None

        def sample(self, prompts, sampling, seeds=None, *, extra):
            return []

        def chat_prompt(self, messages):
            return []

    gaps = contract_gaps(Partial)
    for expected in ("no attribute pad_id", "no attribute stop_ids", "no method score", "no method sleep",
                     "no method from_config", "sample: extra required parameters ['extra']",
                     "chat_prompt: should take **kwargs"):
        assert expected in gaps


def test_the_tiny_model_and_the_trainers_wrapper_satisfy_it(tiny_model_dir):
    from repro.trainer.loop import TimedPolicy

    policy = load_policy(ModelConfig(path=str(tiny_model_dir), device="cpu"))
    assert isinstance(policy, TrainablePolicy)
    assert policy.model_dir == tiny_model_dir and policy.pad_id in range(len(policy.tokenizer))
    assert policy.stop_ids and all(isinstance(i, int) for i in policy.stop_ids)
    timed = TimedPolicy(policy)
    assert isinstance(timed, Policy)
    [generation] = timed.sample([policy.chat_prompt([{"role": "user", "content": "hi"}])],
                                SamplingConfig(max_new_tokens=3, seed=1))
    assert timed.seconds > 0 and len(generation.logprobs) == len(generation.response_ids)


def test_hf_refuses_an_engine_setting(tiny_model_dir):
    with pytest.raises(ReproError, match="no engine settings"):
        load_policy(ModelConfig(path=str(tiny_model_dir), device="cpu"), gpu_memory_utilization=0.6)
