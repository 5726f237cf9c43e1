"""The tiny local model: a real Qwen3 architecture with a byte-level BPE trained here.

It exists so that every code path (chat template, ``</think>`` handling, stop tokens, sampling,
scoring, training) runs on a CPU in seconds without a model hub. Its weights are random: it
answers nothing correctly, which is expected.

The build is a pure function of :data:`RECIPE` and the data root's files: seeded, single-threaded
where it matters, and cached under ``cache_dir()/models/tiny`` with a ``manifest.json`` holding
the recipe hash; a changed recipe means a rebuild, an unchanged one means reuse.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

from repro.errors import ReproError
from repro.io import atomic_write_json, read_jsonl
from repro.paths import cache_dir, data_dir, data_file
from repro.policy.transformers_logging import quiet_progress

TINY_NAME = "tiny"
MANIFEST = "manifest.json"

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]

# Qwen-style ChatML; no default system message (the caller decides the conversation).
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

# Qwen2's pre-tokenizer split: single digits, letter runs, punctuation runs, whitespace.
PRETOKENIZE_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

RECIPE = {
    "version": 1,  # bump when the build code changes in a way the fields below do not capture
    "seed": 0,
    "architecture": "Qwen3ForCausalLM",
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 32,  # vLLM's CPU attention takes head sizes 32, 64, 80+; 2 x 32 keeps the 4 x 16 shapes
    "intermediate_size": 128,
    "max_position_embeddings": 8192,
    "rope_theta": 1_000_000.0,
    "tie_word_embeddings": True,
    "vocab_size": 4096,
    "bpe_min_frequency": 2,
    "special_tokens": SPECIAL_TOKENS,
    "chat_template": CHAT_TEMPLATE,
    "pretokenize_regex": PRETOKENIZE_REGEX,
    # How many texts to draw (seeded) from each source under the data root.
    "corpus": {"gsm8k": 2000, "math": 2000, "webshop": 300, "alfworld": 300},
}


def recipe_hash(recipe: dict = RECIPE) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def tiny_dir() -> Path:
    return cache_dir() / "models" / TINY_NAME


def read_manifest(directory: Path) -> dict | None:
    try:
        return json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def is_current(directory: Path, recipe: dict = RECIPE) -> bool:
    manifest = read_manifest(directory)
    return manifest is not None and manifest.get("recipe_hash") == recipe_hash(recipe)


# ---------------------------------------------------------------------------------------------
# Corpus


def _math_texts(rng: random.Random, n_gsm8k: int, n_math: int) -> list[str]:
    gsm8k = read_jsonl(data_file("gsm8k/train.jsonl"))
    math = json.loads(data_file("math/train.json").read_text())
    texts = [f"{r['question']}\n{r['answer']}" for r in rng.sample(gsm8k, min(n_gsm8k, len(gsm8k)))]
    texts += [f"{r['problem']}\n\\boxed{{{r['answer']}}}" for r in rng.sample(math, min(n_math, len(math)))]
    return texts


def _webshop_texts(rng: random.Random, n: int) -> list[str]:
    """WebShop-style observations and actions around real product titles."""
    docs = read_jsonl(data_file("webshop/documents_1k.jsonl"))
    texts = []
    for doc in rng.sample(docs, min(n, len(docs))):
        product = doc["product"]
        name = product.get("name", "")
        price = (product.get("pricing") or [0])[0]
        query = " ".join(name.lower().split()[:4])
        texts.append(
            f"WebShop [SEP] Instruction: [SEP] i need {query}, and price lower than {int(price) + 10}.00 "
            f"dollars [SEP] Back to Search [SEP] Page 1 (Total results: 50) [SEP] Next > [SEP] "
            f"{doc['id']} [SEP] {name} [SEP] ${price}\n"
            f"<think>The item {doc['id']} matches the request.</think>\n"
            f"<action>search[{query}]</action> <action>click[{doc['id'].lower()}]</action> "
            f"<action>click[buy now]</action>\n{doc.get('contents', '')[:300]}"
        )
    return texts


def _alfworld_texts(rng: random.Random, n: int) -> list[str]:
    """ALFWorld-style observations, tasks and admissible commands; objects and receptacles come
    from the game directory names (task-Object-Mrecep-Receptacle-scene)."""
    root = data_dir() / "alfworld" / "json_2.1.1"
    games = sorted(p.name for p in root.glob("*/*") if p.is_dir())
    if not games:
        raise ReproError(f"no ALFWorld games under {root}; run `repro data fetch alfworld`")
    objects = sorted({g.split("-")[1].lower() for g in games})
    receptacles = sorted({g.split("-")[3].lower() for g in games} | {"countertop", "cabinet", "fridge", "sinkbasin", "microwave"})
    texts = []
    for _ in range(n):
        obj, rec, other = rng.choice(objects), rng.choice(receptacles), rng.choice(receptacles)
        seen = ", ".join(f"a {r} {rng.randint(1, 4)}" for r in rng.sample(receptacles, 5))
        actions = [f"go to {rec} 1", f"open {rec} 1", f"take {obj} 1 from {other} 2",
                   f"move {obj} 1 to {rec} 1", f"examine {obj} 1", "inventory", "look"]
        texts.append(
            "-= Welcome to TextWorld, ALFRED! =-\n\n"
            f"You are in the middle of a room. Looking quickly around you, you see {seen}.\n\n"
            f"Your task is to: put a {obj} in {rec}.\n"
            f"You arrive at {other} 2. On the {other} 2, you see a {obj} 1. Nothing happens.\n"
            f"Your admissible actions of the current situation are: [{', '.join(repr(a) for a in actions)}].\n"
            f"<think>I need to find the {obj} first, then go to the {rec}.</think>\n"
            f"<action>{rng.choice(actions)}</action>"
        )
    return texts


def build_corpus(recipe: dict = RECIPE) -> list[str]:
    """The tokenizer's training texts: a seeded sample of the data root, in a fixed order."""
    rng = random.Random(recipe["seed"])
    counts = recipe["corpus"]
    return (
        _math_texts(rng, counts["gsm8k"], counts["math"])
        + _webshop_texts(rng, counts["webshop"])
        + _alfworld_texts(rng, counts["alfworld"])
    )


# ---------------------------------------------------------------------------------------------
# Build


def train_tokenizer(texts: list[str], recipe: dict = RECIPE):
    """A byte-level BPE (``tokenizers``) wrapped as a transformers fast tokenizer with ChatML."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(recipe["pretokenize_regex"]), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=recipe["vocab_size"],
        min_frequency=recipe["bpe_min_frequency"],
        special_tokens=recipe["special_tokens"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=recipe["chat_template"],
        model_max_length=recipe["max_position_embeddings"],
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )


def weights_sha256(model) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def build_tiny(out_dir: Path, recipe: dict = RECIPE) -> dict:
    """Build the tiny model into ``out_dir`` (must not exist yet); returns its manifest."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    start = time.perf_counter()
    texts = build_corpus(recipe)
    tokenizer = train_tokenizer(texts, recipe)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=recipe["hidden_size"],
        num_hidden_layers=recipe["num_hidden_layers"],
        num_attention_heads=recipe["num_attention_heads"],
        num_key_value_heads=recipe["num_key_value_heads"],
        head_dim=recipe["head_dim"],
        intermediate_size=recipe["intermediate_size"],
        max_position_embeddings=recipe["max_position_embeddings"],
        rope_theta=recipe["rope_theta"],
        tie_word_embeddings=recipe["tie_word_embeddings"],
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe["seed"])
        model = Qwen3ForCausalLM(config)

    out_dir.mkdir(parents=True)
    with quiet_progress():
        tokenizer.save_pretrained(out_dir)
        model.save_pretrained(out_dir)
    corpus_digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()
    manifest = {
        "name": TINY_NAME,
        "recipe_hash": recipe_hash(recipe),
        "recipe": recipe,
        "corpus_sha256": corpus_digest,
        "weights_sha256": weights_sha256(model),
        "n_params": sum(p.numel() for p in model.parameters()),
        "build_seconds": round(time.perf_counter() - start, 2),
    }
    atomic_write_json(out_dir / MANIFEST, manifest)
    return manifest


def ensure_tiny(force: bool = False) -> Path:
    """The tiny model's directory, built first if missing, stale or ``force``d.

    A file lock serialises concurrent builders (several processes may ask at once); the build
    goes to a temporary sibling directory renamed into place, so readers never see half a model.
    """
    target = tiny_dir()
    if not force and is_current(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{TINY_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and is_current(target):  # another process built it while we waited
            return target
        staging = Path(tempfile.mkdtemp(prefix=f".{TINY_NAME}.", dir=target.parent))
        try:
            build_tiny(staging / "model")
            if target.exists():
                shutil.rmtree(target)
            (staging / "model").rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_model_path(path: str) -> Path:
    """'tiny' -> the built tiny model (building it if needed); else a local HF model directory."""
    if path == TINY_NAME:
        return ensure_tiny()
    directory = Path(path).expanduser()
    if not directory.is_dir():
        raise ReproError(f"model path '{path}' is not a directory (use 'tiny' or a local Hugging Face model directory)")
    if not (directory / "config.json").is_file():
        raise ReproError(f"model directory '{path}' has no config.json; is it a Hugging Face model directory?")
    return directory


def list_models() -> list[tuple[str, str, str]]:
    """Rows (name, path, status) for ``repro ls models``; reads manifests only (no torch)."""
    target = tiny_dir()
    manifest = read_manifest(target)
    if manifest is None:
        status = "not built (built on first use, or `repro model build-tiny`)"
    elif manifest.get("recipe_hash") != recipe_hash():
        status = "stale (recipe changed; rebuilt on next use)"
    else:
        status = f"built, recipe {manifest['recipe_hash']}, {manifest.get('n_params', '?')} params"
    return [(TINY_NAME, str(target), status)]
