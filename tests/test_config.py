from pathlib import Path

import pytest
import yaml

from danlu.config import apply_overrides, load_config, parse_override
from danlu.errors import ConfigError


@pytest.fixture
def params(tmp_path: Path, repo_root: Path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text((repo_root / "params.yaml").read_text())
    return path


def edit(path: Path, fn) -> Path:
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data))
    return path


def test_defaults_load_and_paths_resolve_against_the_params_folder(params: Path):
    cfg = load_config(params)
    assert cfg.root == params.parent.resolve()
    assert cfg.path(cfg.paths.data) == params.parent.resolve() / "data"
    assert cfg.path("/abs/x") == Path("/abs/x")


def test_a_typo_names_the_key_and_suggests_the_right_one(params: Path):
    edit(params, lambda d: d["train"].update(max_step=5))
    with pytest.raises(ConfigError) as err:
        load_config(params)
    msg = str(err.value)
    assert "train.max_step: unknown key (did you mean 'max_steps'?)" in msg
    assert "allowed here:" in msg and "batch_size" in msg


def test_wrong_type_and_out_of_range_values_name_the_key(params: Path):
    with pytest.raises(ConfigError, match=r"train\.batch_size: .*integer"):
        load_config(params, ["train.batch_size=lots"])
    with pytest.raises(ConfigError, match=r"curate\.language\.threshold: .*less than or equal to 1"):
        load_config(params, ["curate.language.threshold=1.5"])
    with pytest.raises(ConfigError, match=r"model\.preset: .*'tiny'"):
        load_config(params, ["model.preset=huge"])


def test_missing_key_is_reported(params: Path):
    edit(params, lambda d: d["train"].pop("max_steps"))
    with pytest.raises(ConfigError, match=r"train\.max_steps: required key is missing"):
        load_config(params)


def test_overrides_use_dvc_exp_run_syntax(params: Path):
    cfg = load_config(params, ["train.max_steps=7", "params.yaml:seed=9",
                               "curate.language.keep=[en, de]", "train.lr=null"])
    assert cfg.train.max_steps == 7 and cfg.seed == 9
    assert cfg.curate.language.keep == ["en", "de"]
    assert cfg.train.lr is None


def test_bad_overrides_fail_clearly(params: Path):
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_override("train.max_steps")
    with pytest.raises(ConfigError, match="only params.yaml is read"):
        parse_override("other.yaml:seed=1")
    with pytest.raises(ConfigError, match="seed is a value, not a section"):
        apply_overrides({"seed": 1}, ["seed.x=2"])
    with pytest.raises(ConfigError, match=r"trian: unknown key \(did you mean 'train'\?\)"):
        load_config(params, ["trian.max_steps=3"])


def test_cross_field_rule(params: Path):
    with pytest.raises(ConfigError, match="min_words must be below"):
        load_config(params, ["curate.filters.min_words=500", "curate.filters.max_words=100"])


def test_missing_params_file_names_the_path(tmp_path: Path):
    with pytest.raises(ConfigError, match=str(tmp_path / "nope.yaml")):
        load_config(tmp_path / "nope.yaml")


def test_params_hash_is_stable_and_sensitive(params: Path):
    a, b = load_config(params), load_config(params)
    assert a.section_hash() == b.section_hash()
    assert a.section_hash() != load_config(params, ["train.max_steps=3"]).section_hash()
    assert a.section_hash("curate") == load_config(params, ["train.max_steps=3"]).section_hash("curate")


def test_near_dedup_threshold_follows_bands_and_rows(params: Path):
    cfg = load_config(params, ["curate.near_dedup.bands=20", "curate.near_dedup.rows=5"])
    nd = cfg.curate.near_dedup
    assert nd.num_perm == 100
    assert nd.threshold == pytest.approx((1 / 20) ** (1 / 5))
    with pytest.raises(ConfigError, match=r"curate\.near_dedup\.rows: .*greater than or equal to 1"):
        load_config(params, ["curate.near_dedup.rows=0"])


def test_params_yaml_is_in_the_form_dvc_writes_back(tmp_path, repo_root):
    """`dvc exp run -S key=value` rewrites params.yaml through ruamel: the file is kept in that
    form, so an experiment's diff is the changed key alone."""
    from dvc.utils.serialize import modify_yaml

    original = (repo_root / "params.yaml").read_text()
    copy = tmp_path / "params.yaml"
    copy.write_text(original)
    with modify_yaml(copy) as data:
        data["train"]["max_steps"] = 300
    changed = [(a, b) for a, b in zip(original.splitlines(), copy.read_text().splitlines())
               if a != b]
    assert len(original.splitlines()) == len(copy.read_text().splitlines())
    assert [(a.split("#")[0].strip(), b.split("#")[0].strip()) for a, b in changed] == \
        [("max_steps: 450", "max_steps: 300")]


def test_a_params_file_from_before_an_added_key_gets_the_migration(tmp_path, repo_root):
    import yaml

    from danlu.config.load import ADDED_KEYS

    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    del raw["train"]["compile_cpu_min_steps"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"train.compile_cpu_min_steps: a key added in 0.2; add "
                                          r"`compile_cpu_min_steps: 1000` under `train:`"):
        load_config(tmp_path / "params.yaml")
    for key, (_, value) in ADDED_KEYS.items():  # the migration says what params.yaml says
        if "." not in key:  # a whole section: its message points at danlu's params.yaml
            assert key in raw
            continue
        *sections, name = key.split(".")
        node = raw
        for section in sections:
            node = node[section]
        assert yaml.safe_dump(node.get(name, yaml.safe_load(value))) == \
            yaml.safe_dump(yaml.safe_load(value))


def test_a_params_file_with_the_old_sft_section_is_told_where_it_went(tmp_path, repo_root):
    import yaml

    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    raw["sft"] = {k: v for k, v in raw.pop("finetune").items() if k not in ("method", "lora")}
    del raw["reward"], raw["registry"]["reward_model"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path / "params.yaml")
    text = str(error.value)
    assert "sft: renamed to `finetune:` in 0.3" in text
    assert "reward: a section added in 0.3; copy `reward:` from danlu's own params.yaml" in text
    assert "registry.reward_model: a key added in 0.3; add `reward_model: danlu-reward`" in text


def test_prompt_methods_refuse_packing(tmp_path, repo_root):
    params = tmp_path / "params.yaml"
    params.write_text((repo_root / "params.yaml").read_text())
    with pytest.raises(ConfigError, match="finetune.packing works with full, lora and qlora only"):
        load_config(params, ["finetune.method=prefix_tuning", "finetune.packing=true"])
    assert load_config(params, ["finetune.method=lora", "finetune.packing=true"]).finetune.packing


def test_a_params_file_with_the_old_evaluate_keys_is_told_what_replaced_them(tmp_path, repo_root):
    import yaml

    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    raw["evaluate"] = {"heldout": "data/eval/heldout.jsonl", "prompts": "data/eval/prompts.jsonl",
                       "max_new_tokens": 48, "num_samples": 8}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path / "params.yaml")
    text = str(error.value)
    assert "evaluate.heldout: removed in 0.4: held-out text is a task file now" in text
    assert "evaluate.prompts: removed in 0.4: chat prompts are a task file now" in text
    assert "evaluate.tasks: a key added in 0.4; add `tasks: [data/eval/tasks/*.yaml]`" in text
