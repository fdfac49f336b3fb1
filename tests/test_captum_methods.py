"""``method="captum:NAME"``: vista owns the score function and the map; each map is
checked against calling captum directly on the same score function."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the explain extra (torch)")
pytest.importorskip("transformers", reason="needs the explain extra (transformers)")
captum_attr = pytest.importorskip("captum.attr", reason="needs captum (the explain extra)")

from explain_fixtures import tiny_image  # noqa: E402
from explain_fixtures_methods import (  # noqa: E402
    check_method,
    clip_folder,
    one_torch_thread,
    siglip_folder,
)

from vista.explain import load_explainer  # noqa: E402
from vista.explain.attribution import CAPTUM_METHODS, parse_captum, reduce_channels  # noqa: E402
from vista.explain.catalog_methods import CAPTUM_FAMILIES, CAPTUM_NAMES  # noqa: E402
from vista.explain.registry import explainer_names, method_names  # noqa: E402

pytestmark = pytest.mark.explain
__all__ = ["one_torch_thread"]  # the autouse fixture, imported to apply here

TEXTS = ["the cat", "a dog on the mat"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("captum")
    return {"clip": clip_folder(root / "clip"), "siglip": siglip_folder(root / "siglip")}


def _direct(explainer: Any, image: np.ndarray, texts: list[str], name: str,
            **kwargs: Any) -> np.ndarray:
    """captum called here on the family's score of the model input, one text at a
    time, with the choices spelt out; channels reduced by the sum of |.|."""
    parts = explainer.parts
    pixels = parts.pixels(image)
    text = parts.texts(texts)[3]
    out = []
    for row in range(len(texts)):
        def forward(px: Any, row: int = row) -> Any:
            return parts.score(parts.image_embedding(px), text)[:, row]

        algo = getattr(captum_attr, name)(forward)
        with torch.enable_grad():
            attr = algo.attribute(pixels.clone().requires_grad_(True), **kwargs)
        out.append(attr.abs().sum(dim=1)[0].detach().numpy())
    return np.stack(out)


CASES = [
    ("IntegratedGradients", {"n_steps": 8},
     lambda px: {"baselines": torch.zeros_like(px), "n_steps": 8, "method": "gausslegendre",
                 "internal_batch_size": 16}),
    ("Saliency", {}, lambda px: {"abs": True}),
    ("InputXGradient", {}, lambda px: {}),
    ("Occlusion", {"window": 16},
     lambda px: {"sliding_window_shapes": (3, 16, 16), "strides": (3, 16, 16),
                 "baselines": torch.zeros_like(px), "perturbations_per_eval": 16}),
]


@pytest.mark.parametrize("family", ["clip", "siglip"])
@pytest.mark.parametrize(("name", "options", "direct"), CASES, ids=[c[0] for c in CASES])
def test_captum_matches_captum_called_directly(folders: dict[str, Path], family: str, name: str,
                                               options: dict[str, Any], direct: Any) -> None:
    explainer = load_explainer(family, method=f"captum:{name}", weights=str(folders[family]),
                               device="cpu", **options)
    image = tiny_image(24, 40)
    maps = explainer.runner(explainer.parts, image, TEXTS)[0]
    pixels = explainer.parts.pixels(image)
    expected = _direct(explainer, image, TEXTS, name, **direct(pixels))
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-7)
    assert np.abs(maps[0] - maps[1]).max() > 0  # the text changes the map


def test_feature_ablation_superpixels_and_noise_tunnel_match_captum(folders: dict[str, Path]) -> None:
    from skimage.segmentation import slic

    explainer = load_explainer("clip", method="captum:FeatureAblation", n_segments=6,
                               weights=str(folders["clip"]), device="cpu")
    image = tiny_image(24, 40)
    parts = explainer.parts
    pixels = parts.pixels(image)
    mean = np.asarray(parts.image_processor.image_mean).reshape(3, 1, 1)
    std = np.asarray(parts.image_processor.image_std).reshape(3, 1, 1)
    rgb = np.clip(pixels[0].double().numpy() * std + mean, 0, 1).transpose(1, 2, 0)
    labels = torch.as_tensor(slic(rgb, n_segments=6, compactness=10.0, start_label=0))
    expected = _direct(explainer, image, TEXTS, "FeatureAblation",
                       feature_mask=labels.view(1, 1, *labels.shape),
                       baselines=torch.zeros_like(pixels), perturbations_per_eval=16)
    np.testing.assert_allclose(explainer.runner(parts, image, TEXTS)[0], expected, rtol=1e-5,
                               atol=1e-7)

    tunnel = load_explainer("clip", method="captum:NoiseTunnel:Saliency", nt_samples=3,
                            weights=str(folders["clip"]), device="cpu")
    text = parts.texts(TEXTS)[3]
    algo = captum_attr.NoiseTunnel(captum_attr.Saliency(
        lambda px: parts.score(parts.image_embedding(px), text)[:, 0]))
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(0)
        attr = algo.attribute(pixels.clone().requires_grad_(True), nt_type="smoothgrad",
                              nt_samples=3, stdevs=0.15, abs=True)
    got = tunnel.runner(tunnel.parts, image, TEXTS)[0][0]
    np.testing.assert_allclose(got, attr.abs().sum(dim=1)[0].numpy(), rtol=1e-5, atol=1e-7)


def test_noise_tunnel_gradient_shap_matches_captum(folders: dict[str, Path]) -> None:
    """captum's NoiseTunnel takes ``stdevs`` as its own: GradientShap's stays 0."""
    explainer = load_explainer("clip", method="captum:NoiseTunnel:GradientShap", n_samples=3,
                               nt_samples=2, seed=5, weights=str(folders["clip"]), device="cpu")
    image = tiny_image(24, 40)
    parts = explainer.parts
    pixels = parts.pixels(image)
    text = parts.texts(TEXTS)[3]
    got = explainer.runner(parts, image, TEXTS)[0]
    for row in range(len(TEXTS)):
        algo = captum_attr.NoiseTunnel(captum_attr.GradientShap(
            lambda px, row=row: parts.score(parts.image_embedding(px), text)[:, row]))
        state = np.random.get_state()  # noqa: NPY002 (captum uses the legacy global generator)
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            torch.manual_seed(5)
            np.random.seed(5)  # noqa: NPY002
            attr = algo.attribute(pixels.clone().requires_grad_(True), nt_type="smoothgrad",
                                  nt_samples=2, stdevs=0.15, baselines=torch.zeros_like(pixels),
                                  n_samples=3)
        np.random.set_state(state)  # noqa: NPY002
        np.testing.assert_allclose(got[row], attr.detach().abs().sum(dim=1)[0].numpy(),
                                   rtol=1e-5, atol=1e-7)
    assert np.isfinite(got).all() and np.abs(got[0] - got[1]).max() > 0
    (m,) = explainer.explain(image, TEXTS[:1])
    assert m.params["stdevs"] == 0.0 and m.params["nt_stdevs"] == 0.15 and m.params["seed"] == 5
    with pytest.raises(ValueError, match="must be 0 under NoiseTunnel"):
        load_explainer("clip", method="captum:NoiseTunnel:GradientShap", stdevs=0.1,
                       weights=str(folders["clip"]), device="cpu")


def test_albef_feature_ablation_uses_albef_normalisation(tmp_path: Path) -> None:
    """ALBEF has no image processor: its superpixels and black baseline un-normalise
    with ALBEF's own mean and std."""
    from explain_fixtures import albef_checkpoint
    from skimage.segmentation import slic

    from vista.explain.albef import MEAN, STD

    weights = str(albef_checkpoint(tmp_path / "albef"))
    explainer = load_explainer("albef", method="captum:FeatureAblation", n_segments=6,
                               baseline="black", weights=weights, vision_heads=3, device="cpu")
    assert explainer.parts.image_processor is None
    check_method(explainer, TEXTS, "itm_logit")
    # 8 px blocks of colour: SLIC finds several superpixels (on noise it finds one)
    blocks = np.random.default_rng(0).integers(0, 256, size=(3, 5, 3), dtype=np.uint8)
    image = np.kron(blocks, np.ones((8, 8, 1), dtype=np.uint8))
    parts = explainer.parts
    pixels = parts.pixels(image)
    mean = torch.tensor(MEAN, dtype=torch.float64).view(3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float64).view(3, 1, 1)
    rgb = (pixels[0].double() * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()
    labels = torch.as_tensor(slic(rgb, n_segments=6, compactness=10.0, start_label=0))
    assert labels.max() > 0  # more than one superpixel
    black = ((0.0 - mean) / std).float().view(1, 3, 1, 1).expand_as(pixels)
    handle = parts.texts(TEXTS)[3]
    got = explainer.runner(parts, image, TEXTS)[0]
    for row in range(len(TEXTS)):
        algo = captum_attr.FeatureAblation(lambda px, row=row: parts.score_pixels(px, handle)[:, row])
        with torch.no_grad():
            attr = algo.attribute(pixels.clone(), baselines=black.clone(),
                                  feature_mask=labels.view(1, 1, *labels.shape),
                                  perturbations_per_eval=16)
        np.testing.assert_allclose(got[row], attr.abs().sum(dim=1)[0].numpy(), rtol=1e-5,
                                   atol=1e-7)
    assert np.isfinite(got).all() and np.abs(got).max() > 0
    tunnel = load_explainer("albef", method="captum:NoiseTunnel:FeatureAblation", n_segments=6,
                            nt_samples=2, weights=weights, vision_heads=3, device="cpu")
    first, again = (tunnel.explain(image, TEXTS[:1])[0].values for _ in range(2))
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("method", ["captum:Saliency", "captum:GradientShap"])
def test_captum_shared_checks_and_params(folders: dict[str, Path], method: str) -> None:
    options: dict[str, Any] = {"n_samples": 4} if method.endswith("GradientShap") else {}
    explainer = load_explainer("siglip", method=method, weights=str(folders["siglip"]),
                               device="cpu", **options)
    check_method(explainer, TEXTS, explainer.parts.score_name)
    (m,) = explainer.explain(tiny_image(), ["the cat"])
    assert m.params["captum_method"] == method.split(":")[-1]
    assert m.params["channels"] == "abs-sum" and m.params["method"] == method
    if method.endswith("GradientShap"):
        assert m.params["baseline"] == "zeros" and m.params["n_samples"] == 4
        assert m.params["seed"] == 0


def test_captum_on_vilt_matches_captum(tmp_path: Path) -> None:
    """ViLT: the processor's pixels (aspect kept), its ITM logit, every patch."""
    from explain_fixtures_methods import vilt_folder

    folder = vilt_folder(tmp_path / "vilt")
    explainer = load_explainer("vilt", method="captum:InputXGradient", weights=str(folder),
                               device="cpu")
    image = tiny_image(24, 40)
    check_method(explainer, TEXTS, "itm_logit")
    parts = explainer.parts
    pixels = parts.pixels(image)
    assert pixels.shape[-2:] == (32, 48)  # shorter side 32, aspect kept, multiples of 8
    handle = parts.texts(TEXTS)[3]
    algo = captum_attr.InputXGradient(lambda px: parts.score_pixels(px, handle)[:, 1])
    with torch.enable_grad():
        attr = algo.attribute(pixels.clone().requires_grad_(True))
    got = explainer.runner(parts, image, TEXTS)[0]
    np.testing.assert_allclose(got[1], attr.detach().abs().sum(dim=1)[0].numpy(), rtol=1e-5,
                               atol=1e-8)
    with torch.no_grad():
        enc = explainer.tokenizer(TEXTS[1:], return_tensors="pt")
        logit = explainer.model(**enc, pixel_values=pixels,
                                pixel_mask=parts.pixel_mask).logits[0, 0]
    (m,) = explainer.explain(image, TEXTS[1:])
    assert m.params["itm_logit"] == pytest.approx(float(logit), rel=1e-5)
    assert np.abs(got[0] - got[1]).max() > 0


def test_channel_reductions() -> None:
    a = np.array([[[[1.0, -2.0]], [[-3.0, 2.0]], [[0.0, 2.0]]]])
    np.testing.assert_array_equal(reduce_channels(a, "abs-sum"), [[[4.0, 6.0]]])
    np.testing.assert_array_equal(reduce_channels(a, "sum"), [[[-2.0, 2.0]]])
    np.testing.assert_array_equal(reduce_channels(a, "positive-sum"), [[[0.0, 2.0]]])
    np.testing.assert_allclose(reduce_channels(a, "l2"), [[[np.sqrt(10.0), np.sqrt(12.0)]]])


def test_captum_names_declared_match_implemented() -> None:
    assert CAPTUM_NAMES == CAPTUM_METHODS
    assert parse_captum("captum:NoiseTunnel:Occlusion") == ("Occlusion", True)


@pytest.mark.parametrize(("method", "options", "message"), [
    ("captum:Lime", {}, "unknown method 'captum:Lime'"),
    ("captum:Saliency", {"n_steps": 3}, "unknown option"),
    ("captum:IntegratedGradients", {"baseline": "blur"}, "baseline must be one of"),
], ids=["unknown", "option", "baseline"])
def test_captum_bad_input_one_line(folders: dict[str, Path], method: str,
                                   options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        load_explainer("clip", method=method, weights=str(folders["clip"]), device="cpu",
                       **options)
    assert "\n" not in str(info.value)


#: The cheapest setting of each method, for the smoke run over every declared pair.
_SMOKE = {"IntegratedGradients": {"n_steps": 2}, "GradientShap": {"n_samples": 2},
          "FeatureAblation": {"n_segments": 4}}
CAPTUM_PAIRS = [(f, m) for f in explainer_names() for m in method_names(f)
                if m.startswith("captum:")]


@pytest.fixture(scope="module")
def smoke_weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, dict[str, Any]]]:
    """A tiny model of every family that declares a captum method, made once."""
    from explain_fixtures import albef_checkpoint, blip_folder
    from explain_fixtures_methods import blip2_folder, vilt_folder

    root = tmp_path_factory.mktemp("captum-smoke")
    clip = clip_folder(root / "clip")
    blip = str(blip_folder(root / "blip"))
    made = {"clip": (str(clip), {}), "siglip": (str(siglip_folder(root / "siglip")), {}),
            "blip-itm-base": (blip, {}), "blip-itm-large": (blip, {}),
            "albef": (str(albef_checkpoint(root / "albef")), {"vision_heads": 3}),
            "blip2-itm": (str(blip2_folder(root / "blip2")), {}),
            "vilt": (str(vilt_folder(root / "vilt")), {})}
    missing = sorted({f for f, _ in CAPTUM_PAIRS} - set(made))
    assert not missing, f"no tiny model for the captum families {missing}"
    return made


def test_captum_pairs_declared() -> None:
    families = {f for f, _ in CAPTUM_PAIRS}
    assert families == set(CAPTUM_FAMILIES)
    for family in families:
        assert sorted(m for f, m in CAPTUM_PAIRS if f == family) == sorted(
            [f"captum:{n}" for n in CAPTUM_NAMES] + [f"captum:NoiseTunnel:{n}" for n in CAPTUM_NAMES])


@pytest.mark.parametrize(("family", "method"), CAPTUM_PAIRS,
                         ids=[f"{f}/{m[len('captum:'):]}" for f, m in CAPTUM_PAIRS])
def test_every_declared_captum_pair_runs(smoke_weights: dict[str, tuple[str, dict[str, Any]]],
                                         family: str, method: str) -> None:
    """Each (family, captum method) the registry declares builds and maps one text."""
    weights, extra = smoke_weights[family]
    name, tunnel = parse_captum(method)
    options: dict[str, Any] = {**_SMOKE.get(name, {}), **({"nt_samples": 2} if tunnel else {})}
    explainer = load_explainer(family, method=method, weights=weights, device="cpu", **extra,
                               **options)
    (m,) = explainer.explain(tiny_image(24, 40), ["the cat"])
    assert m.values.shape == (24, 40) and np.isfinite(m.values).all()
    assert m.params["method"] == method and m.params["captum_method"] == name
    assert m.params["noise_tunnel"] is tunnel
