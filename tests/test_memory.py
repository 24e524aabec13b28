"""Memory the weights need, measured or guessed from the name, and sizes written for people."""

from clues.memory import guess_parameters, human_bytes, human_count, memory_estimate


def test_memory_helpers():
    assert guess_parameters("Qwen/Qwen2.5-7B") == 7e9
    assert guess_parameters("EleutherAI/pythia-160m") == 160e6
    assert guess_parameters("meta-llama/Meta-Llama-3-70B") == 70e9
    assert guess_parameters("openai-community/gpt2") == 124e6
    assert guess_parameters("/some/folder") is None
    assert memory_estimate("google/gemma-2-2b", "bfloat16", None) == (4e9, "guessed from the name")
    assert memory_estimate("x", "auto", 1234) == (1234.0, "from the weight files")
    assert human_count(37_500) == "38 k" and human_count(3.4e6) == "3.4 M"
    assert human_bytes(881.9 * 1024) == "881.9 KB"
