"""What the model sees in WebShop: formatted page, action list, prompt text (docs/gigpo.md §2.2-§2.4)."""

from __future__ import annotations

SEP = " [SEP] "
SEARCH_PLACEHOLDER = "search[<your query>]"
PROMPT_FALLBACK_CHARS = 13000  # longer history prompts fall back to the no-history prompt
ACTION_FALLBACK_CHARS = 20  # reply without <action> tags: its last 20 characters are the action

# verl-agent's WebShop prompt texts (docs/gigpo.md §2.3), verbatim
TEMPLATE_NO_HISTORY = """
You are an expert autonomous agent operating in the WebShop e\u2011commerce environment. 
Your task is to: {task_description}.
Your current observation is: {current_observation}.
Your admissible actions of the current situation are: 
[
{available_actions}
].

Now it's your turn to take one action for the current step.
You should first reason step-by-step about the current situation, then think carefully which admissible action best advances the shopping goal. This reasoning process MUST be enclosed within <think> </think> tags. 
Once you've finished your reasoning, you should choose an admissible action for current step and present it within <action> </action> tags.
"""

TEMPLATE = """
You are an expert autonomous agent operating in the WebShop e\u2011commerce environment.
Your task is to: {task_description}.
Prior to this step, you have already taken {step_count} step(s). Below are the most recent {history_length} observations and the corresponding actions you took: {action_history}
You are now at step {current_step} and your current observation is: {current_observation}.
Your admissible actions of the current situation are:
[
{available_actions}
].

Now it's your turn to take one action for the current step.
You should first reason step-by-step about the current situation, then think carefully which admissible action best advances the shopping goal. This reasoning process MUST be enclosed within <think> </think> tags.
Once you've finished your reasoning, you should choose an admissible action for current step and present it within <action> </action> tags.
"""


def format_page(raw: str, instruction: str) -> str:
    """GiGPO's observation and anchor: drop the pieces up to and including the instruction, quote the
    rest; the raw text if the instruction is not one of the pieces."""
    pieces = raw.split(SEP)
    try:
        start = pieces.index(instruction) + 1
    except ValueError:
        return raw
    return SEP.join(f"'{p}'" for p in pieces[start:])


def available_actions(has_search_bar: bool, clickables: list[str]) -> list[str]:
    return ([SEARCH_PLACEHOLDER] if has_search_bar else []) + [f"click[{c}]" for c in clickables]


def _action_block(actions: list[str]) -> str:
    return "\n".join(f"'{a}'," for a in actions)


def history_entry(step: int, observation: str, action: str) -> str:
    return f"[Observation {step}: '{observation}', Action {step}: '{action}']"


def render_prompt(task: str, observation: str, actions: list[str],
                  history: list[tuple[str, str]], history_length: int = 2) -> str:
    """The user message for the next step; ``history`` holds (observation, action) of past steps."""
    no_history = TEMPLATE_NO_HISTORY.format(task_description=task, current_observation=observation,
                                            available_actions=_action_block(actions))
    if not history or history_length <= 0:
        return no_history
    recent = history[-history_length:]
    first = len(history) - len(recent) + 1
    lines = "\n".join(history_entry(first + i, o, a) for i, (o, a) in enumerate(recent))
    prompt = TEMPLATE.format(task_description=task, step_count=len(history), history_length=len(recent),
                             action_history=lines, current_step=len(history) + 1,
                             current_observation=observation, available_actions=_action_block(actions))
    return no_history if len(prompt) > PROMPT_FALLBACK_CHARS else prompt
