"""A method's and a network's own fields are declared in their files (dcl.config.Option) and
everything else is derived from the declarations: checks, defaults, --set, config.toml,
`dcl config fields`, refusals, and the torch-free catalog."""
import json
import os
import subprocess
import sys

import pytest

import dcl
from dcl.config import Option, TrainConfig, check_fields_used, resolve_config
from dcl.config.catalog import _snapshot, all_options, option_owners, source_fingerprint
from dcl.config.files import config_to_toml, field_docs, read_config_file
from dcl.errors import DCLError
from dcl.methods import METHODS
from dcl.models import ARCHS


def test_a_name_means_one_thing_everywhere_it_is_declared():
    specs = {}
    for registry in (METHODS, ARCHS):
        for name in registry.names():
            for option in registry.options(name):
                specs.setdefault(option.name, set()).add(json.dumps(option.spec(), sort_keys=True))
    assert {n for n, s in specs.items() if len(s) > 1} == set()
    assert "dict_dim" in specs and "ff_threshold" in specs and "width" in specs and "pff_group" in specs


def test_a_run_holds_exactly_its_method_and_networks_options_with_their_defaults():
    cfg = TrainConfig(arch="fc", method="ff", width=64, segments=4)
    assert set(cfg.options) == {o.name for o in ARCHS.options("fc") + METHODS.options("ff")}
    assert cfg.ff_threshold is None and cfg.ff_goodness == "mean" and cfg.width == 64
    with pytest.raises(AttributeError, match="'dict_dim' is not a field of this run's config"):
        cfg.dict_dim
    dcl_cfg = cfg.replace(method="dcl")  # ff's fields at their defaults are not carried over
    assert "ff_goodness" not in dcl_cfg.options and dcl_cfg.dict_update == "sequential"


def test_option_values_are_checked_from_the_declarations():
    with pytest.raises(DCLError, match=r"ff_threshold must be a finite number in \(0, inf\), got -1"):
        TrainConfig(method="ff", ff_threshold=-1.0)
    with pytest.raises(DCLError, match="unknown ff_goodness 'median'; valid choices: mean, sum"):
        resolve_config(arch="fc", data="mnist", method="ff", ff_goodness="median")
    with pytest.raises(DCLError, match="channels must be a list of integers, got '64'"):
        TrainConfig(arch="conv", channels="64")
    assert resolve_config(arch="conv", data="mnist", channels="8,16").channels == (8, 16)  # --set parses
    with pytest.raises(DCLError, match="unknown config field 'ff_treshold'; valid fields: .*ff_threshold"):
        TrainConfig(method="ff", ff_treshold=2.0)
    with pytest.raises(DCLError, match="give dict_norm \\(2.0\\) or dict_norm_from \\('x.pt'\\), not both"):
        TrainConfig(dict_norm=2.0, dict_norm_from="x.pt")


@pytest.mark.parametrize("method, arch, field, value, readers", [
    ("dcl", "fc", "ff_threshold", 3.0, "only method ff, symba read it"),
    ("ll-sim", "conv", "aux_dim", 64, "only method ll-bpf, ll-cont, ll-contrec, ll-pred, ll-predsim read it"),
    ("drtp", "fc", "drtp_activation", "relu", "only arch drtp-fc, drtp-conv read it"),
    ("bp", "conv", "width", 64, "only arch drtp-fc, drtp-conv, fc, pff read it"),
])
def test_a_field_the_run_does_not_read_is_refused_naming_who_reads_it(method, arch, field, value, readers):
    cfg = resolve_config(arch=arch, data="mnist", method=method, **{field: value})
    with pytest.raises(DCLError, match=readers):
        check_fields_used(cfg)


def test_a_recipes_options_for_another_method_are_not_the_runs():
    bp = resolve_config(arch="vgg8b", data="cifar10", method="bp")   # vgg8b-cifar10 sets dict_dim=512
    assert "dict_dim" not in bp.options
    check_fields_used(bp)
    assert resolve_config(arch="vgg8b", data="cifar10", method="dcl").dict_dim == 512


def test_config_toml_holds_the_options_and_reads_back(tmp_path):
    cfg = resolve_config(arch="fc", data="mnist", method="ff", ff_threshold=3.0, width=256, segments=4)
    text = config_to_toml(cfg)
    assert "# --- method ff's own fields" in text and "ff_threshold = 3.0" in text and "width = 256" in text
    (tmp_path / "c.toml").write_text(text)
    again = resolve_config(**{k: v for k, v in read_config_file(tmp_path / "c.toml").items()})
    assert again == cfg


def test_an_older_runs_flat_config_still_loads():
    old = {**TrainConfig(method="dcl").to_dict(), "ff_threshold": None, "pff_steps": 12, "drtp_loss": "bce",
           "a_field_of_an_older_version": 1}
    cfg = TrainConfig.from_dict(old)
    assert cfg.method == "dcl" and "ff_threshold" not in cfg.options and "pff_steps" not in cfg.options


def test_config_fields_lists_every_option_with_who_reads_it():
    docs = {d.name: d for d in field_docs()}
    assert docs["ff_threshold"].section == "read by method ff, symba"
    assert docs["width"].section == "read by arch drtp-fc, drtp-conv, fc, pff"
    assert set(all_options()) <= set(docs)
    assert all(d.comment for d in docs.values() if d.section.startswith("read by"))
    assert option_owners("segments") == [("arch", "fc", ARCHS.options("fc")[1])]


def test_the_catalog_cache_holds_what_the_registries_declare(tmp_path):
    """A fresh process without torch reads names, options and presets from the cache alone."""
    env = {**os.environ, "DCL_CACHE_DIR": str(tmp_path)}
    build = "from dcl.config.catalog import names\nnames('methods')\n"
    subprocess.run([sys.executable, "-c", build], check=True, env=env, timeout=300)
    cached = json.loads((tmp_path / f"catalog-{source_fingerprint()}.json").read_text())
    assert cached == json.loads(json.dumps(_snapshot()))
    code = ("import sys\nimport dcl\n"
            "cfg = dcl.resolve_config(arch='pff', data='mnist', method='pff', pff_steps=3)\n"
            "assert cfg.pff_steps == 3 and cfg.pff_group == 10 and cfg.batch_size == 500\n"
            "try:\n    dcl.resolve_config(arch='fc', data='mnist', method='symba', symba_alpha=-1)\n"
            "except dcl.DCLError as e:\n    assert 'symba_alpha must be' in str(e)\n"
            "assert 'torch' not in sys.modules\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
