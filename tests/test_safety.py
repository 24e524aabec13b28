"""Safety and reproducibility rules that a code change could silently break."""

import re
import subprocess
from pathlib import Path

import pandas as pd

from clues.corpus import generate_biographies, write_tagged_csv
from clues.runs import RunStore
from clues.train import TrainConfig, train

from tiny import tiny_model_dir

REPO = Path(__file__).resolve().parent.parent


def tracked_python() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True, check=True)
    return [REPO / line for line in out.stdout.split() if not line.startswith("tests/")]


def test_nothing_is_unpickled_and_remote_code_stays_opt_in():
    offenders = []
    for path in tracked_python():
        text = path.read_text()
        for line_number, line in enumerate(text.splitlines(), start=1):
            if re.search(r"pickle\.loads?\(|joblib\.load\(|np\.load\(.*allow_pickle=True", line):
                offenders.append(f"{path.name}:{line_number}: {line.strip()}")
            if "torch.load(" in line and "weights_only=True" not in line:
                offenders.append(f"{path.name}:{line_number}: {line.strip()}")
            if re.search(r"trust_remote_code\s*=\s*True", line):
                offenders.append(f"{path.name}:{line_number}: {line.strip()}")
    assert not offenders, offenders


def test_the_core_never_imports_streamlit():
    for path in (REPO / "clues").rglob("*.py"):
        if "ui" in path.relative_to(REPO / "clues").parts:
            continue
        assert not re.search(r"^\s*(import|from)\s+streamlit", path.read_text(), re.M), path


def test_the_server_binds_to_localhost_by_default():
    config = (REPO / ".streamlit" / "config.toml").read_text()
    assert re.search(r'address\s*=\s*"(localhost|127\.0\.0\.1)"', config)
    assert re.search(r"maxUploadSize\s*=\s*\d+", config)


def test_same_seed_same_curves_on_cpu(tmp_path):
    people = generate_biographies(3, seed=0)
    write_tagged_csv(tmp_path / "bios.csv", people)
    pd.DataFrame({"text": [p.text for p in people] * 2}).to_csv(tmp_path / "data.csv", index=False)
    model = tiny_model_dir(tmp_path / "model")
    store = RunStore(tmp_path / "runs.sqlite")

    def run(seed):
        config = TrainConfig(model=str(model), data=str(tmp_path / "data.csv"), eval_data=str(tmp_path / "bios.csv"),
                             epochs=2, lr=3e-3, batch_size=2, max_length=96, seed=seed, eval_shots=1,
                             device="cpu", store_path=str(store.path))
        metrics = store.metrics(train(config, store))
        return metrics.drop(columns=[c for c in metrics.columns if c in ("created_at", "run_id", "id")])

    first, again, other = run(0), run(0), run(1)
    pd.testing.assert_frame_equal(first.reset_index(drop=True), again.reset_index(drop=True))
    losses = lambda frame: frame[frame["name"] == "loss"]["value"].tolist()  # noqa: E731
    assert losses(first) != losses(other)
