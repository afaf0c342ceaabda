from bench.profile import frame_name, summarize

_APP = "<module> (/x/bin/app:8)"
_RUN = "run (/v/lib/python3.11/site-packages/uvicorn/main.py:{})"
_HANDLE = "handle (/w/services/intake/src/onceonly/intake/api.py:{})"
_DUMPS = "dumps (/v/lib/python3.11/json/encoder.py:5)"
RAW = "\n".join(
    [
        f"{_APP};{_RUN.format(10)};{_HANDLE.format(40)};{_DUMPS} 6",
        f"{_APP};{_RUN.format(10)};{_HANDLE.format(41)} 3",
        f"{_APP};{_RUN.format(12)} 1",
    ]
)


def test_frame_names_drop_the_line_and_shorten_the_path() -> None:
    assert frame_name("run (/v/lib/python3.11/site-packages/uvicorn/main.py:10)") == (
        "run (uvicorn/main.py)"
    )
    assert frame_name("handle (/w/services/intake/src/onceonly/intake/api.py:40)") == (
        "handle (onceonly/intake/api.py)"
    )


def test_own_samples_count_the_leaf_and_cumulative_every_function_once() -> None:
    found = summarize(RAW)
    assert found["samples"] == 10
    own = {row["function"]: row["samples"] for row in found["by_own"]}
    assert own == {
        "dumps (json/encoder.py)": 6,
        "handle (onceonly/intake/api.py)": 3,
        "run (uvicorn/main.py)": 1,
    }
    cumulative = {row["function"]: row["samples"] for row in found["by_cumulative"]}
    assert cumulative["run (uvicorn/main.py)"] == 10
    assert cumulative["handle (onceonly/intake/api.py)"] == 9
    assert found["by_own"][0]["share"] == 0.6


def test_lines_that_are_not_stacks_are_skipped() -> None:
    assert summarize("garbage\n\n")["samples"] == 0
