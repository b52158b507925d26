"""``runs/search`` filters and ``order_by``: MLflow's grammar and semantics on a `RunView`."""

from __future__ import annotations

import math
import operator

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("starlette")

from registry_server import run_search
from registry_server.errors import ApiError
from registry_server.run_search import RunView, parse_order_by, parse_run_filter


def run(
    run_id: str = "r1",
    *,
    run_name: str = "happy-cat",
    status: str = "FINISHED",
    start_time: int = 1_000,
    end_time: int | None = 2_000,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    metrics: dict[str, float] | None = None,
) -> RunView:
    return RunView(
        run_id=run_id,
        run_name=run_name,
        status=status,
        start_time=start_time,
        end_time=end_time,
        user_id="ada",
        artifact_uri=f"s3://bucket/{run_id}/artifacts",
        lifecycle_stage="active",
        params={"lr": "0.01", "optimizer": "Adam", "a b": "spaced"} if params is None else params,
        tags={"team": "ml-core", "mlflow.user": "ada"} if tags is None else tags,
        metrics={"acc": 0.9, "loss": 0.25, "steps": 100.0} if metrics is None else metrics,
    )


RUN = run()


def matches(text: str | None, view: RunView = RUN) -> bool:
    return parse_run_filter(text).matches(view)


def refused(text: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse_run_filter(text)
    assert caught.value.status == 400
    assert caught.value.code == "INVALID_PARAMETER_VALUE"
    return caught.value


# -- each operator on each entity -------------------------------------------------------

#: (filter, matches RUN?) — the run has acc 0.9, lr '0.01', team 'ml-core', FINISHED
OPERATORS = [
    ("metrics.acc = 0.9", True),
    ("metrics.acc != 0.9", False),
    ("metrics.acc > 0.5", True),
    ("metrics.acc >= 0.9", True),
    ("metrics.acc < 0.9", False),
    ("metrics.acc <= 0.9", True),
    ("params.lr = '0.01'", True),
    ("params.lr != '0.01'", False),
    ("params.optimizer LIKE 'Ad%'", True),
    ("params.optimizer LIKE 'ad%'", False),
    ("params.optimizer ILIKE 'ad%'", True),
    ("params.optimizer IN ('SGD', 'Adam')", True),
    ("params.optimizer NOT IN ('SGD', 'Adam')", False),
    ("params.lr IS NOT NULL", True),
    ("params.lr IS NULL", False),
    ("tags.team = 'ml-core'", True),
    ("tags.team != 'ml-core'", False),
    ("tags.team LIKE 'ml-%'", True),
    ("tags.team ILIKE 'ML-%'", True),
    ("tags.team IN ('ml-core')", True),
    ("tags.team NOT IN ('ml-core')", False),
    ("tags.team IS NULL", False),
    ("attributes.status = 'FINISHED'", True),
    ("attributes.status != 'FINISHED'", False),
    ("attributes.status LIKE 'FIN%'", True),
    ("attributes.status ILIKE 'fin%'", True),
    ("attributes.run_id = 'r1'", True),
    ("attributes.run_id != 'r1'", False),
    ("attributes.run_id IN ('r0', 'r1')", True),
    ("attributes.run_id NOT IN ('r0', 'r1')", False),
    ("attributes.run_name = 'happy-cat'", True),
    ("attributes.user_id = 'ada'", True),
    ("attributes.artifact_uri LIKE 's3://bucket/%'", True),
    ("attributes.lifecycle_stage = 'active'", True),
    ("attributes.start_time = 1000", True),
    ("attributes.start_time != 1000", False),
    ("attributes.start_time > 999", True),
    ("attributes.start_time >= 1001", False),
    ("attributes.end_time < 2001", True),
    ("attributes.end_time <= 1999", False),
]


@pytest.mark.parametrize(("text", "expected"), OPERATORS)
def test_each_operator_on_each_entity(text: str, expected: bool) -> None:
    assert matches(text) is expected


@pytest.mark.parametrize(
    "text",
    [
        "metric.acc > 0.5",
        "param.lr = '0.01'",
        "parameters.lr = '0.01'",
        "tag.team = 'ml-core'",
        "attribute.status = 'FINISHED'",
        "attr.status = 'FINISHED'",
        "run.status = 'FINISHED'",
        "status = 'FINISHED'",
        "`metrics`.acc > 0.5",
        "METRICS.acc > 0.5",
    ],
)
def test_every_spelling_of_an_entity_prefix(text: str) -> None:
    assert matches(text)


def test_an_empty_filter_matches_every_run() -> None:
    for text in (None, "", "   "):
        assert matches(text)
        assert matches(text, run(params={}, tags={}, metrics={}))


# -- quoting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "params.`a b` = 'spaced'",
        "params.\"a b\" = 'spaced'",
        'params.`a b` = "spaced"',
        "`attributes`.`status` = 'FINISHED'",
        "`status` = 'FINISHED'",
    ],
)
def test_keys_and_values_in_every_quoting(text: str) -> None:
    assert matches(text)


def test_keys_hold_dots_dashes_and_slashes() -> None:
    view = run(
        params={"model.depth": "3", "learning-rate": "0.1"},
        metrics={"train/loss": 0.5, "val.acc": 0.8},
    )
    assert matches("params.model.depth = '3'", view)
    assert matches("params.`learning-rate` = '0.1' AND params.learning-rate = '0.1'", view)
    assert matches("metrics.train/loss < 1 AND metrics.`val.acc` > 0.7", view)


def test_a_quoted_value_keeps_the_other_quote_and_keywords() -> None:
    view = run(tags={"note": 'it\'s AND "fine"'})
    assert matches('tags.note LIKE "it\'s AND %"', view)
    assert matches("tags.note LIKE '%AND \"fine\"'", view)
    assert matches("tags.note = 'x' AND tags.note LIKE '%'", view) is False


def test_the_run_name_attribute_and_the_run_name_tag_agree() -> None:
    named = run(run_name="happy-cat", tags={})
    tagged = run(run_name="", tags={"mlflow.runName": "happy-cat"})
    for view in (named, tagged):
        assert matches("attributes.run_name = 'happy-cat'", view)
        assert matches("tags.`mlflow.runName` = 'happy-cat'", view)
        assert matches("tags.mlflow.runName LIKE 'happy%'", view)
        assert matches("`Run name` = 'happy-cat'", view)
    assert not matches("run_name = 'happy-cat'", run(run_name="", tags={}))


def test_created_is_start_time() -> None:
    assert matches("created = 1000")
    assert matches("attributes.Created < 1001")


# -- IN lists and LIKE wildcards --------------------------------------------------------


def test_in_lists_take_one_or_many_strings_in_either_quote() -> None:
    assert matches("run_id IN ('r1')")
    assert matches("run_id in (\"r9\", 'r1' ,'r2')")
    assert not matches("run_id IN ('R1')")
    assert matches("run_id NOT IN ('r2', \"r3\")")


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("%", True),
        ("ml-core", True),
        ("ml%", True),
        ("%core", True),
        ("%-c%", True),
        ("ml_core", True),
        ("m_", False),
        ("__-____", True),
        ("ml-cor", False),
        ("ml.core", False),  # a dot is a dot, not any character
        ("ml-core%", True),
    ],
)
def test_like_wildcards(pattern: str, expected: bool) -> None:
    assert matches(f"tags.team LIKE '{pattern}'") is expected
    assert matches(f"tags.team ILIKE '{pattern.upper()}'") is expected


def test_regex_characters_in_a_like_pattern_are_literal() -> None:
    view = run(params={"expr": "a+b*(c)"})
    assert matches("params.expr LIKE 'a+b*(c)'", view)
    assert not matches("params.expr LIKE 'a+b*c'", view)
    assert matches("params.expr LIKE '%*(_)'", view)


# -- missing keys -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "metrics.missing = 1",
        "metrics.missing != 1",
        "metrics.missing > -1e300",
        "params.missing = 'x'",
        "params.missing != 'x'",
        "params.missing LIKE '%'",
        "params.missing NOT IN ('x')",
        "tags.missing != 'x'",
        "tags.missing ILIKE '%'",
        "attributes.end_time > 0",
        "attributes.end_time != 5",
    ],
)
def test_a_missing_value_fails_every_comparison_even_not_equal(text: str) -> None:
    assert not matches(text, run(end_time=None))


def test_is_null_picks_out_a_missing_param_or_tag() -> None:
    assert matches("params.missing IS NULL AND tags.missing is null")
    assert not matches("params.missing IS NOT NULL")


# -- numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.steps = 100", True),
        ("metrics.steps = 100.0", True),
        ("metrics.steps = 1e2", True),
        ("metrics.steps = 1E+2", True),
        ("metrics.steps = 100.", True),
        ("metrics.loss = .25", True),
        ("metrics.loss > 1e-3", True),
        ("metrics.loss < 2.5e-1", False),
        ("metrics.delta > -1", True),
        ("metrics.delta = -0.5", True),
        ("metrics.delta < -5e-1", False),
        ("metrics.big > 1e300", True),
        ("metrics.tiny > 0", True),
        ("metrics.tiny < 1e-300", True),
        ("attributes.start_time > -1", True),
        ("attributes.start_time = 1e3", True),
        ("attributes.start_time < 1000.5", True),
    ],
)
def test_numbers_in_every_form(text: str, expected: bool) -> None:
    view = run(
        metrics={"steps": 100.0, "loss": 0.25, "delta": -0.5, "big": math.inf, "tiny": 5e-324}
    )
    assert matches(text, view) is expected


def test_millisecond_times_compare_exactly() -> None:
    view = run(start_time=1_700_000_000_123)
    assert matches("start_time = 1700000000123", view)
    assert not matches("start_time = 1700000000124", view)


def test_a_nan_metric_satisfies_not_equal_and_nothing_else() -> None:
    view = run(metrics={"m": math.nan})
    assert matches("metrics.m != 0", view)
    for op in ("=", ">", ">=", "<", "<="):
        assert not matches(f"metrics.m {op} 0", view)


# -- AND chains and keywords ------------------------------------------------------------


def test_and_chains_need_every_clause() -> None:
    assert matches("metrics.acc > 0.5 AND params.lr = '0.01' AND tags.team LIKE 'ml%'")
    assert not matches("metrics.acc > 0.5 AND params.lr = '0.02' AND tags.team LIKE 'ml%'")
    parsed = parse_run_filter("metrics.acc > 0.5 AND status = 'FINISHED' AND run_id = 'r1'")
    assert len(parsed.clauses) == 3


@pytest.mark.parametrize(
    "text",
    [
        "metrics.acc > 0.5 and params.optimizer like 'Ad%'",
        "metrics.acc > 0.5 And params.optimizer iLike 'ad%'",
        "run_id in ('r1') AND run_id Not In ('r2')",
        "params.missing is null",
        "params.lr is not null",
        "metrics.acc>0.5 AND params.lr='0.01'",
        "  metrics.acc   >   0.5   ",
    ],
)
def test_keywords_are_any_case_and_spacing_is_free(text: str) -> None:
    assert matches(text)


def test_a_key_may_look_like_a_keyword() -> None:
    view = run(params={"in": "x", "and": "y", "like": "z"})
    assert matches("params.in = 'x' AND params.and = 'y' AND params.like = 'z'", view)


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("params.lr = '0.01", "unclosed ' quote at position 12"),
        ('params.lr = "0.01', 'unclosed " quote'),
        ("params.`lr = '0.01'", "unclosed ` quote"),
        ("bogus.lr = '0.01'", "unknown entity 'bogus'"),
        ("attributes.colour = 'red'", "unknown attribute 'colour'"),
        ("colour = 'red'", "unknown attribute 'colour'"),
        ("datasets.name = 'train'", "dataset is not supported"),
        ("metrics.acc LIKE '0.9'", "LIKE does not apply to 'metrics.acc'"),
        ("metrics.acc IN ('1')", "IN does not apply"),
        ("params.lr > '0.01'", "> does not apply to 'params.lr'"),
        ("attributes.start_time LIKE '1%'", "LIKE does not apply"),
        ("status IS NULL", "IS NULL does not apply"),
        ("metrics.acc <> 1", "<> does not apply"),
        ("metrics.acc == 1", "== does not apply"),
        ("metrics.acc = '0.9'", "a number for metric 'acc'"),
        ("params.lr = 0.01", "a quoted string for param 'lr'"),
        ("start_time = '1000'", "a number for attribute 'start_time'"),
        ("metrics.acc > 0.5 AND", "expected a field"),
        ("metrics.acc > 0.5 AND AND status = 'x'", "expected a field"),
        ("AND metrics.acc > 0.5", "expected a field"),
        ("metrics.acc > 0.5 OR status = 'x'", "expected AND or the end"),
        ("metrics.acc > 0.5 status = 'x'", "expected AND or the end"),
        ("metrics.acc", "expected an operator"),
        ("metrics.acc >", "a number for metric 'acc'"),
        ("metrics.acc 0.5", "expected an operator"),
        ("status NOT LIKE 'x'", "expected an operator"),
        ("run_id IN 'r1'", "'(' opening the IN list"),
        ("run_id IN ()", "a quoted string in the IN list"),
        ("run_id IN ('r1',)", "a quoted string in the IN list"),
        ("run_id IN ('r1'", "',' or ')' in the IN list"),
        ("run_id IN ('r1' 'r2')", "',' or ')' in the IN list"),
        ("(status = 'x')", "expected a field"),
        ("metrics.acc > 0.5; drop table runs", "unexpected text at position 17"),
        ("metrics.`` = 1", "empty key"),
        ("metrics.acc > +1", "unexpected text"),
    ],
)
def test_bad_filters_are_a_400_naming_the_problem(text: str, says: str) -> None:
    assert says in refused(text).message


def test_errors_name_the_position_and_text() -> None:
    message = refused("metrics.acc > 0.5 AND params.lr ~ 'x'").message
    assert "position 32" in message
    assert "~ 'x'" in message


# -- order_by ---------------------------------------------------------------------------


def ids(views: list[RunView]) -> list[str]:
    return [view.run_id for view in views]


RUNS = [
    run("a", start_time=1, metrics={"acc": 0.5}, params={"lr": "0.1"}, tags={"t": "x"}),
    run("b", start_time=2, metrics={"acc": 0.9}, params={"lr": "0.01"}, tags={}),
    run("c", start_time=3, metrics={}, params={}, tags={"t": "y"}),
    run("d", start_time=4, metrics={"acc": math.nan}, params={"lr": "1"}, tags={"t": "x"}),
    run("e", start_time=5, metrics={"acc": 0.9}, params={"lr": "0.1"}, tags={"t": "z"}),
]


def order(*clauses: str) -> list[str]:
    return ids(parse_order_by(list(clauses)).sort(RUNS))


def test_the_default_order_is_newest_first_then_run_id() -> None:
    assert order() == ["e", "d", "c", "b", "a"]
    twins = [run("y", start_time=7), run("x", start_time=7), run("z", start_time=8)]
    assert ids(parse_order_by([]).sort(twins)) == ["z", "x", "y"]


def test_values_then_nan_then_missing_whatever_the_direction() -> None:
    assert order("metrics.acc") == ["a", "e", "b", "d", "c"]
    assert order("metrics.acc ASC") == ["a", "e", "b", "d", "c"]
    assert order("metrics.acc DESC") == ["e", "b", "a", "d", "c"]


def test_params_and_tags_sort_as_strings_missing_last() -> None:
    assert order("params.lr") == ["b", "e", "a", "d", "c"]  # '0.01' < '0.1' < '1'
    assert order("params.lr desc") == ["d", "e", "a", "b", "c"]
    assert order("tags.t DESC") == ["e", "c", "d", "a", "b"]


def test_ties_fall_to_the_next_clause_then_to_the_default() -> None:
    assert order("tags.t", "metrics.acc DESC") == ["a", "d", "c", "e", "b"]
    assert order("tags.t", "start_time ASC") == ["a", "d", "c", "e", "b"]
    assert order("params.lr", "attributes.run_id DESC") == ["b", "e", "a", "d", "c"]


def test_attributes_order_with_or_without_their_prefix() -> None:
    assert order("attributes.start_time ASC") == ["a", "b", "c", "d", "e"]
    assert order("start_time") == ["a", "b", "c", "d", "e"]
    assert order("created DESC") == ["e", "d", "c", "b", "a"]
    assert order("run.run_id desc") == ["e", "d", "c", "b", "a"]


def test_a_run_without_an_end_time_sorts_last() -> None:
    views = [run("a", end_time=None), run("b", end_time=5), run("c", end_time=9)]
    assert ids(parse_order_by(["end_time"]).sort(views)) == ["b", "c", "a"]
    assert ids(parse_order_by(["end_time DESC"]).sort(views)) == ["c", "b", "a"]


def test_order_by_quoted_keys() -> None:
    views = [run("a", tags={"x y": "2"}), run("b", tags={"x y": "1"}), run("c", tags={})]
    assert ids(parse_order_by(["tags.`x y` DESC"]).sort(views)) == ["a", "b", "c"]
    assert ids(parse_order_by(['tags."x y"']).sort(views)) == ["b", "a", "c"]


@pytest.mark.parametrize(
    ("clause", "says"),
    [
        ("metrics.acc UP", "cannot read the order_by clause"),
        ("metrics.acc DESC ASC", "cannot read the order_by clause"),
        ("", "cannot read the order_by clause"),
        ("tags.x y", "cannot read the order_by clause"),
        ("bogus.acc", "unknown entity 'bogus'"),
        ("colour", "unknown attribute 'colour'"),
        ("datasets.name", "dataset is not supported"),
        ("tags.`x", "cannot read the order_by clause"),
    ],
)
def test_bad_order_by_is_a_400(clause: str, says: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_order_by([clause])
    assert caught.value.status == 400
    assert says in caught.value.message


def test_one_field_twice_in_order_by_is_refused() -> None:
    with pytest.raises(ApiError, match="twice"):
        parse_order_by(["metrics.acc", "metric.acc DESC"])


# -- against a direct evaluation --------------------------------------------------------

NUMERIC = {"=": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge}
NUMERIC |= {"<": operator.lt, "<=": operator.le}
keys = st.sampled_from(["a", "b", "x.y"])
numbers = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**6), 10**6)
texts = st.text(alphabet="ab%_", max_size=4)


def quote(key: str) -> str:
    return f"`{key}`" if "." in key else key


@given(
    st.dictionaries(keys, numbers.map(float)),
    keys,
    st.sampled_from(sorted(NUMERIC)),
    st.floats(allow_nan=False, allow_infinity=False, width=32) | st.integers(-100, 100),
)
def test_metric_clauses_agree_with_python(
    metrics: dict[str, float], key: str, op: str, value: float
) -> None:
    literal = repr(value) if isinstance(value, int) else f"{value:.17g}"
    actual = metrics.get(key)
    expected = actual is not None and NUMERIC[op](actual, float(literal))
    text = f"metrics.{quote(key)} {op} {literal}"
    assert parse_run_filter(text).matches(run(metrics=metrics)) is expected


@given(
    st.dictionaries(keys, texts),
    keys,
    st.sampled_from(["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"]),
    st.lists(texts, min_size=1, max_size=3),
)
def test_param_clauses_agree_with_python(
    params: dict[str, str], key: str, op: str, values: list[str]
) -> None:
    actual = params.get(key)
    expected: bool
    if op in ("IN", "NOT IN"):
        operand = "(" + ", ".join(f"'{v}'" for v in values) + ")"
        expected = actual is not None and (actual in values) == (op == "IN")
    else:
        operand = f"'{values[0]}'"
        expected = actual is not None and compare(op, actual, values[0])
    text = f"params.{quote(key)} {op} {operand}"
    assert parse_run_filter(text).matches(run(params=params)) is expected


def compare(op: str, actual: str, value: str) -> bool:
    if op == "LIKE":
        return like(actual, value)
    if op == "ILIKE":
        return like(actual.lower(), value.lower())
    return (actual == value) == (op == "=")


def like(text: str, pattern: str) -> bool:
    """SQL LIKE by hand: ``%`` any run, ``_`` one character (no regex involved)."""
    if not pattern:
        return not text
    head, rest = pattern[0], pattern[1:]
    if head == "%":
        return any(like(text[i:], rest) for i in range(len(text) + 1))
    return bool(text) and head in ("_", text[0]) and like(text[1:], rest)


# -- hygiene ----------------------------------------------------------------------------


def test_every_name_in_all_exists() -> None:
    for public in run_search.__all__:
        assert hasattr(run_search, public), f"run_search.__all__ lists {public!r}"


# -- against MLflow's own evaluation ----------------------------------------------------

#: where this module deliberately differs: IN on more than run_id, lifecycle_stage
LIBERTIES = ("params.optimizer IN", "params.optimizer NOT IN", "tags.team IN", "tags.team NOT")
LIBERTIES += ("attributes.lifecycle_stage",)
SHARED = [text for text, _ in OPERATORS if not text.startswith(LIBERTIES)]
SHARED += ["metrics.missing != 1", "params.missing != 'x'", "end_time > 0", "metrics.acc != 7"]
SHARED += ['metrics.acc > 1e-3 AND params.`lr` = "0.01"', "tags.`mlflow.runName` = 'happy-cat'"]


def as_mlflow(view: RunView) -> object:
    from mlflow.entities import Metric, Param, Run, RunData, RunInfo, RunTag

    info = RunInfo(
        run_id=view.run_id,
        experiment_id="0",
        user_id=view.user_id,
        status=view.status,
        start_time=view.start_time,
        end_time=view.end_time,
        lifecycle_stage=view.lifecycle_stage,
        artifact_uri=view.artifact_uri,
        run_name=view.run_name,
    )
    data = RunData(
        metrics=[Metric(k, v, 0, 0) for k, v in view.metrics.items()],
        params=[Param(k, v) for k, v in view.params.items()],
        tags=[RunTag(k, v) for k, v in {"mlflow.runName": view.run_name, **view.tags}.items()],
    )
    return Run(info, data)


@pytest.mark.parametrize("text", SHARED)
def test_filters_agree_with_mlflow(text: str) -> None:
    search = pytest.importorskip("mlflow.utils.search_utils")
    views = [RUN, run("r2", end_time=None, metrics={"acc": math.nan}), *RUNS]
    ours = [view.run_id for view in views if matches(text, view)]
    theirs = search.SearchUtils.filter([as_mlflow(view) for view in views], text)
    assert ours == [r.info.run_id for r in theirs]


@pytest.mark.parametrize(
    "clauses",
    [
        [],
        ["metrics.acc"],
        ["metrics.acc DESC"],
        ["params.lr DESC", "tags.t"],
        ["tags.t", "metrics.acc DESC"],
        ["attributes.start_time ASC"],
        ["tags.t DESC", "run_id DESC"],
    ],
)
def test_order_agrees_with_mlflow(clauses: list[str]) -> None:
    search = pytest.importorskip("mlflow.utils.search_utils")
    theirs = search.SearchUtils.sort([as_mlflow(view) for view in RUNS], clauses)
    assert order(*clauses) == [r.info.run_id for r in theirs]
