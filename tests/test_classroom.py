"""Class mode's settings and its rules, each refusal one line (clues/classroom.py); the app's side is in
tests/test_app.py and tests/test_class.py."""

import pytest

from clues.classroom import ClassMode, after_leaving, class_mode, parse_pairs, run_limit, stop_refusal, upload_refusal
from clues.errors import InputError


def test_off_unless_the_server_turns_it_on():
    assert class_mode({}) == ClassMode()
    assert not class_mode({"CLUES_CLASS": "0"}).on and class_mode({"CLUES_CLASS": "1"}).on
    mode = class_mode({"CLUES_CLASS": "yes", "CLUES_CLASS_PAIRS": "big, small ; a,b", "CLUES_CLASS_MAX_RUNS": "3",
                       "CLUES_CLASS_MAX_UPLOAD_MB": "2.5"})
    assert mode == ClassMode(on=True, pairs=(("big", "small"), ("a", "b")), max_runs=3, max_upload_mb=2.5)


@pytest.mark.parametrize("environ, message", [({"CLUES_CLASS_PAIRS": "one"}, "is not 'large,small'"),
                                              ({"CLUES_CLASS_MAX_RUNS": "0"}, "must be a number > 0"),
                                              ({"CLUES_CLASS_MAX_UPLOAD_MB": "lots"}, "must be a number > 0")])
def test_a_bad_setting_is_named(environ, message):
    with pytest.raises(InputError, match=message):
        class_mode(environ)
    assert parse_pairs("") == ()


def test_each_rule_refuses_in_one_line_and_only_in_class_mode():
    on, off = ClassMode(on=True, max_runs=5, max_upload_mb=1), ClassMode()
    run_limit(off, 100, 100)
    run_limit(on, 2, 3)
    with pytest.raises(InputError, match="may have 5 runs of its own queued or running; you have 3"):
        run_limit(on, 3, 3)
    assert stop_refusal(off, 7, "me", set()) is None and stop_refusal(on, 7, "me", {"me", "you"}) is None
    refused = stop_refusal(on, 7, "me", {"you"})
    assert refused == "You can stop only runs you started: run #7 belongs to another session."
    assert after_leaving(7, set()) is None
    assert after_leaving(7, {"a", "b"}).startswith("Run #7 is shared: 2 other sessions follow it, so it goes on")
    assert upload_refusal(off, 10 ** 9) is None and upload_refusal(on, 10 ** 5) is None
    assert upload_refusal(on, 2 * 10 ** 6) == "Class mode: uploads are capped at 1 MB; this file is 2.0 MB."
    for text in (stop_refusal(on, 7, "me", set()), after_leaving(7, {"a"}), upload_refusal(on, 2 * 10 ** 6)):
        assert "\n" not in text
