"""The HF policy on the real tiny model: sampling, scoring, stopping, seeding, errors."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from repro.config import ModelConfig, SamplingConfig
from repro.errors import ReproError
from repro.policy import load_policy
from repro.policy.hf import HFPolicy, choose_tokens, sample_step
from repro.policy.logprobs import left_pad, position_ids_for, response_logprobs, token_logprobs

pytestmark = pytest.mark.hf_backend  # `make test-vllm` runs these on the transformers floor too



@pytest.fixture(scope="module")
def policy(tiny_model_dir) -> HFPolicy:
    # batch_size 2 < 5 prompts: every call below also exercises chunking
    return load_policy(ModelConfig(path=str(tiny_model_dir), batch_size=2))


@pytest.fixture(scope="module")
def prompts(policy, questions) -> list[list[int]]:
    return [policy.chat_prompt([{"role": "user", "content": q}]) for q in questions]


def max_abs_diff(a: list[list[float]], b: list[list[float]]) -> float:
    assert [len(x) for x in a] == [len(y) for y in b]
    return max(abs(x - y) for row_a, row_b in zip(a, b) for x, y in zip(row_a, row_b))


def test_tiny_name_resolves_to_the_built_directory(tiny_model_dir):
    assert load_policy(ModelConfig(path="tiny")).model_dir == tiny_model_dir


def test_think_and_chat_tokens_are_single_tokens(policy):
    tok = policy.tokenizer
    ids = {t: tok.encode(t, add_special_tokens=False) for t in ["<think>", "</think>", "<|im_start|>", "<|im_end|>", "<|endoftext|>"]}
    assert all(len(v) == 1 for v in ids.values()), ids
    assert policy.end_of_think_id == ids["</think>"][0]
    assert set(policy.stop_ids) == {ids["<|im_end|>"][0], ids["<|endoftext|>"][0]}
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"


def test_chat_template_renders_chatml_with_generation_prompt(policy):
    ids = policy.chat_prompt([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+3?"}])
    assert policy.tokenizer.decode(ids) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n"
    )


@pytest.mark.parametrize("temperature, top_p, top_k", [(1.0, 1.0, 0), (0.7, 0.9, 50), (0.0, 1.0, 0)])
def test_sampled_logprobs_equal_scored_logprobs(policy, prompts, temperature, top_p, top_k):
    sampling = SamplingConfig(temperature=temperature, top_p=top_p, top_k=top_k, max_new_tokens=24, seed=3)
    generations = policy.sample(prompts, sampling)
    assert len({len(p) for p in prompts}) > 1  # left padding is really exercised
    scored = policy.score([g.prompt_ids for g in generations], [g.response_ids for g in generations], temperature)
    assert max_abs_diff([g.logprobs for g in generations], scored) < 1e-5
    assert all(lp <= 0 for g in generations for lp in g.logprobs)


@pytest.mark.parametrize("temperature, top_p", [(1.0, 1.0), (0.6, 1.0), (1.0, 0.9), (0.0, 1.0)])
def test_one_softmax_step_keeps_the_draws_and_the_logprobs(policy, prompts, temperature, top_p):
    """sample_step (one pass over the vocabulary when the draw is unrestricted) against the two
    passes it replaces, on the tiny model's real next-token logits: the same tokens from the same
    uniforms, log-probs within 1e-6 of log_softmax's."""
    ids, attention = left_pad(prompts, policy.pad_id)
    with torch.no_grad():
        logits = policy.model(input_ids=ids, attention_mask=attention, position_ids=position_ids_for(attention),
                              use_cache=False, logits_to_keep=1).logits[:, -1].float()
    sampling = SamplingConfig(temperature=temperature, top_p=top_p)
    generator = torch.Generator().manual_seed(7)
    for _ in range(50):
        uniforms = torch.rand(len(logits), generator=generator)
        tokens, logprobs = sample_step(logits, sampling, uniforms)
        assert torch.equal(tokens, choose_tokens(logits, sampling, uniforms))
        assert (logprobs - token_logprobs(logits, tokens, temperature)).abs().max() < 1e-6
        assert (logprobs < 0).all()


def test_padding_does_not_change_a_prompts_results(policy, prompts):
    sampling = SamplingConfig(temperature=0.0, max_new_tokens=12)
    batched = policy.sample(prompts, sampling)
    alone = [policy.sample([p], sampling)[0] for p in prompts]
    assert [g.response_ids for g in batched] == [g.response_ids for g in alone]
    assert max_abs_diff([g.logprobs for g in batched], [g.logprobs for g in alone]) < 1e-5


def test_response_logprobs_is_differentiable_and_masked(policy, prompts):
    responses = [[10, 11, 12], [13], [14, 15]]
    logprobs, mask = response_logprobs(policy.model, prompts[:3], responses, 1.0, policy.pad_id)
    assert mask.tolist() == [[True, True, True], [True, False, False], [True, True, False]]
    assert logprobs[~mask].abs().sum() == 0
    (-logprobs.sum()).backward()
    grads = [p.grad for p in policy.model.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0
    policy.model.zero_grad(set_to_none=True)
    assert policy.score(prompts[:3], responses)[1] == pytest.approx([logprobs[1, 0].item()], abs=1e-6)


def test_seeded_sampling_is_reproducible(policy, prompts):
    sampling = SamplingConfig(temperature=1.0, max_new_tokens=16, seed=11)
    first, again = policy.sample(prompts, sampling), policy.sample(prompts, sampling)
    assert [g.response_ids for g in first] == [g.response_ids for g in again]
    other = policy.sample(prompts, SamplingConfig(temperature=1.0, max_new_tokens=16, seed=12))
    assert [g.response_ids for g in first] != [g.response_ids for g in other]


def test_greedy_picks_the_argmax_every_step(policy, prompts):
    sampling = SamplingConfig(temperature=0.0, max_new_tokens=12, seed=0)
    generations = policy.sample(prompts, sampling)
    assert [g.response_ids for g in generations] == [g.response_ids for g in policy.sample(prompts, SamplingConfig(temperature=0.0, max_new_tokens=12, seed=99))]
    # each greedy token's log-prob is the largest in its step's distribution
    for g in generations[:2]:
        ids = torch.tensor([g.prompt_ids + g.response_ids])
        with torch.no_grad():
            logits = policy.model(input_ids=ids).logits[0, len(g.prompt_ids) - 1:-1]
        assert logits.argmax(-1).tolist() == g.response_ids


def test_kv_cache_and_full_recompute_agree(policy, prompts):
    for sampling in (SamplingConfig(temperature=0.0, max_new_tokens=20), SamplingConfig(temperature=1.0, max_new_tokens=20, seed=5)):
        cached = policy.sample(prompts, sampling, kv_cache=True)
        recomputed = policy.sample(prompts, sampling, kv_cache=False)
        assert [g.response_ids for g in cached] == [g.response_ids for g in recomputed]
        assert max_abs_diff([g.logprobs for g in cached], [g.logprobs for g in recomputed]) < 1e-5


def test_max_new_tokens_ends_with_length(policy, prompts):
    generations = policy.sample(prompts, SamplingConfig(temperature=1.0, max_new_tokens=7, seed=1))
    for g in generations:
        assert len(g.response_ids) == len(g.logprobs) == 7
        assert g.finish_reason == "length"
        assert g.text == policy.tokenizer.decode(g.response_ids, skip_special_tokens=False)


def test_stop_string_ends_the_response_and_stays_in_it(policy, prompts):
    free = policy.sample(prompts[:1], SamplingConfig(temperature=1.0, max_new_tokens=40, seed=2))[0]
    assert free.finish_reason == "length"
    # a stop string that first completes at token 9 of the unconstrained sample
    prefix_text = policy.tokenizer.decode(free.response_ids[:9], skip_special_tokens=False)
    stop = next(prefix_text[-n:] for n in range(3, len(prefix_text) + 1)
                if prefix_text[-n:] not in policy.tokenizer.decode(free.response_ids[:8], skip_special_tokens=False))
    stopped = policy.sample(prompts[:1], SamplingConfig(temperature=1.0, max_new_tokens=40, seed=2, stop=[stop]))[0]
    assert stopped.finish_reason == "stop"
    assert stopped.response_ids == free.response_ids[:9]
    assert stopped.logprobs == pytest.approx(free.logprobs[:9], abs=1e-6)
    assert stopped.text.endswith(stop)


def test_eos_token_ends_the_response(policy, prompts):
    greedy = SamplingConfig(temperature=0.0, max_new_tokens=30)
    free = policy.sample(prompts[:1], greedy)[0]
    # Treat the token greedy decoding emits at step 4 as an EOS id: the same code path a trained
    # model's <|im_end|> takes (random weights almost never emit it on their own).
    eos_policy = copy.copy(policy)
    eos_policy.stop_ids = [free.response_ids[4]]
    first_hit = free.response_ids.index(free.response_ids[4])
    stopped = eos_policy.sample(prompts[:1], greedy)[0]
    assert stopped.finish_reason == "stop"
    assert stopped.response_ids == free.response_ids[:first_hit + 1]
    assert stopped.text == policy.tokenizer.decode(free.response_ids[:first_hit], skip_special_tokens=False)


def test_top_k_one_is_greedy(policy, prompts):
    greedy = policy.sample(prompts, SamplingConfig(temperature=0.0, max_new_tokens=10))
    top1 = policy.sample(prompts, SamplingConfig(temperature=1.3, top_k=1, max_new_tokens=10, seed=4))
    assert [g.response_ids for g in greedy] == [g.response_ids for g in top1]


def test_draws_follow_the_tempered_distribution():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = (probs.log() * 0.5).expand(4000, 4)  # at T = 0.5 the draw is from `probs` again
    drawn = choose_tokens(logits, SamplingConfig(temperature=0.5), torch.rand(4000, generator=torch.Generator().manual_seed(0)))
    frequencies = torch.bincount(drawn, minlength=4).float() / len(drawn)
    assert torch.allclose(frequencies, probs, atol=0.03), frequencies


def test_top_p_keeps_only_the_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    generator = torch.Generator().manual_seed(0)
    drawn = {int(choose_tokens(logits, SamplingConfig(top_p=0.7), torch.rand(1, generator=generator))) for _ in range(200)}
    assert drawn == {0, 1}


def test_bad_model_paths_give_one_line_errors(tmp_path):
    with pytest.raises(ReproError, match="is not a directory"):
        load_policy(ModelConfig(path=str(tmp_path / "missing")))
    with pytest.raises(ReproError, match="no config.json"):
        load_policy(ModelConfig(path=str(tmp_path)))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "not-a-model"}))
    with pytest.raises(ReproError, match="cannot load") as info:
        load_policy(ModelConfig(path=str(tmp_path)))
    assert "\n" not in str(info.value)


def test_a_corrupt_checkpoint_gives_a_one_line_error(tmp_path, tiny_model_dir):
    for name in ["config.json", "tokenizer.json", "tokenizer_config.json"]:
        (tmp_path / name).write_bytes((tiny_model_dir / name).read_bytes())
    with pytest.raises(ReproError, match="no file named model.safetensors"):
        load_policy(ModelConfig(path=str(tmp_path)))
    (tmp_path / "model.safetensors").write_text("not a safetensors file")
    with pytest.raises(ReproError, match="cannot load"):
        load_policy(ModelConfig(path=str(tmp_path)))


def test_cuda_request_without_cuda_is_an_error(tiny_model_dir):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ReproError, match="CUDA is not available"):
        load_policy(ModelConfig(path=str(tiny_model_dir), device="cuda"))


def test_a_qwen2_style_checkpoint_directory_works_the_same_way(tmp_path, questions):
    """A checkpoint like Qwen2.5-Instruct: another architecture, a default system line in its
    template, EOS ids listed in generation_config.json, and no single-token </think>."""
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    from repro.policy import tiny

    recipe = dict(tiny.RECIPE, vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                  chat_template="{%- if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are helpful.<|im_end|>\n{%- endif %}"
                  + tiny.CHAT_TEMPLATE)
    tokenizer = tiny.train_tokenizer(questions * 20, recipe)
    tokenizer.eos_token = "<|endoftext|>"  # as in a base model: <|im_end|> must come from generation_config
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1, intermediate_size=64))
    model.generation_config = GenerationConfig(eos_token_id=[tokenizer.convert_tokens_to_ids("<|im_end|>"), 0])
    tokenizer.save_pretrained(tmp_path)
    model.save_pretrained(tmp_path)

    policy = load_policy(ModelConfig(path=str(tmp_path)))
    assert policy.end_of_think_id is None
    assert set(policy.stop_ids) == {0, tokenizer.convert_tokens_to_ids("<|im_end|>")}
    prompt = policy.chat_prompt([{"role": "user", "content": "hi"}])
    assert policy.tokenizer.decode(prompt).startswith("<|im_start|>system\nYou are helpful.<|im_end|>")
    generations = policy.sample([prompt, prompt[:5]], SamplingConfig(temperature=0.8, max_new_tokens=10, seed=1))
    scored = policy.score([g.prompt_ids for g in generations], [g.response_ids for g in generations], 0.8)
    assert max_abs_diff([g.logprobs for g in generations], scored) < 1e-5
