"""``vista recipes``: each family's recipes with their reference and choices."""

from __future__ import annotations

from click.testing import CliRunner

from vista.cli import cli


def test_recipes_lists_reference_and_choices() -> None:
    result = CliRunner().invoke(cli, ["recipes"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "blip-itm-base (default recipe: lavis)" in out
    assert " * blip-itm-base:lavis  [gradcam]" in out
    assert "follows: salesforce/LAVIS lavis/models/blip_models/blip_image_text_matching.py " \
           "compute_gradcam (block_num=6, its default)" in out
    assert "choices: score=itm tensor=cross-attention block=6 clamp=gradient" in out
    for row in ("albef:grounding-itc", "clip:chefer-pad", "vilt:ipot", "clipseg:rd64-refined",
                "clipseg-rd16:rd16", "clip:vista-0.1"):
        assert row in out


def test_recipes_one_family_and_unknown() -> None:
    result = CliRunner().invoke(cli, ["recipes", "--model", "vilt"])
    assert result.exit_code == 0
    assert result.output.startswith("vilt (default recipe: ipot)")
    assert "clip:" not in result.output
    bad = CliRunner().invoke(cli, ["recipes", "--model", "nope"])
    assert bad.exit_code == 1
    assert "unknown model 'nope'; known models: clip," in bad.output
