"""vista import: images + grayscale map PNGs + a table of texts -> dataset folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from vista.cli import cli
from vista.dataset import read_dataset
from vista.errors import ParseError
from vista.importers import import_dataset


def make_inputs(root: Path) -> dict[str, Path]:
    images, maps = root / "images", root / "maps"
    images.mkdir()
    maps.mkdir()
    Image.new("RGB", (8, 6), (10, 20, 30)).save(images / "a.jpg")
    Image.new("RGB", (5, 4), (1, 2, 3)).save(images / "b.png")
    m8 = np.zeros((6, 8), np.uint8)
    m8[2, 3], m8[4, 6] = 255, 85
    Image.fromarray(m8).save(maps / "a_dog.png")
    m16 = (np.arange(20, dtype=np.uint16).reshape(4, 5) * 3000)
    Image.fromarray(m16).save(maps / "b_sky.png")
    return {"images": images, "maps": maps, "m8": m8, "m16": m16}  # type: ignore[dict-item]


def test_csv_round_trip(tmp_path) -> None:
    p = make_inputs(tmp_path)
    texts = tmp_path / "texts.csv"
    texts.write_text("id,image,text,map,participant\n"
                     "t1,a.jpg,a dog,a_dog.png,S1\n"
                     "t2,b.png,\"the sky, blue\",b_sky.png,S2\n")
    res = CliRunner().invoke(cli, ["import", "--images", str(p["images"]), "--maps",
                                   str(p["maps"]), "--texts", str(texts), "--out",
                                   str(tmp_path / "ds")])
    assert res.exit_code == 0, res.output
    assert "2 triplets over 2 images" in res.output
    ds = read_dataset(tmp_path / "ds")
    assert [(t.triplet_id, t.text) for t in ds] == [("t1", "a dog"), ("t2", "the sky, blue")]
    m8 = np.asarray(p["m8"], dtype=np.float64)
    np.testing.assert_allclose(ds.load_map(ds["t1"]), m8 / m8.sum(), rtol=1e-6)
    m16 = np.asarray(p["m16"], dtype=np.float64)
    np.testing.assert_allclose(ds.load_map(ds["t2"]), m16 / m16.sum(), rtol=1e-6)
    assert ds.load_image(ds["t1"]).shape == (6, 8, 3)
    assert ds["t2"].meta["participant"] == "S2" and ds["t2"].meta["line"] == 3
    prov = json.loads((tmp_path / "ds" / "dataset.json").read_text())["provenance"]
    assert prov["made_by"] == "vista import"


def test_jsonl_with_column_variants_and_defaults(tmp_path) -> None:
    """``filename``/``caption`` are accepted; no id gives row-N, no map gives ID.png."""
    p = make_inputs(tmp_path)
    (p["maps"] / "row-2.png").write_bytes((p["maps"] / "b_sky.png").read_bytes())
    texts = tmp_path / "texts.jsonl"
    texts.write_text(json.dumps({"Filename": "a.jpg", "Caption": "a dog", "heatmap": "a_dog.png"})
                     + "\n\n" + json.dumps({"filename": "b.png", "caption": "sky"}) + "\n")
    import_dataset(images=p["images"], maps=p["maps"], texts=texts, out=tmp_path / "ds",
                   copy_images=False)
    ds = read_dataset(tmp_path / "ds")
    assert [t.triplet_id for t in ds] == ["row-1", "row-2"]
    assert ds["row-1"].image_path == str((p["images"] / "a.jpg").resolve())


def test_images_in_sub_folders_keep_their_paths(tmp_path) -> None:
    p = make_inputs(tmp_path)
    for sub, colour in (("x", (1, 1, 1)), ("y", (9, 9, 9))):
        (p["images"] / sub).mkdir()
        Image.new("RGB", (8, 6), colour).save(p["images"] / sub / "same.png")
    texts = tmp_path / "t.csv"
    texts.write_text("id,image,text,map\n1,x/same.png,a,a_dog.png\n2,y/same.png,b,a_dog.png\n")
    import_dataset(images=p["images"], maps=p["maps"], texts=texts, out=tmp_path / "ds")
    ds = read_dataset(tmp_path / "ds")
    assert ds.load_image(ds["1"])[0, 0, 0] == 1 and ds.load_image(ds["2"])[0, 0, 0] == 9
    assert ds["2"].image_path.endswith("images/y/same.png")


def test_resize(tmp_path) -> None:
    p = make_inputs(tmp_path)
    texts = tmp_path / "t.csv"
    texts.write_text("id,image,text,map\nx,b.png,sky,a_dog.png\n")  # 8x6 map on a 5x4 image
    with pytest.raises(ParseError, match=r"a_dog.png.*8x6.*5x4.*--resize"):
        import_dataset(images=p["images"], maps=p["maps"], texts=texts, out=tmp_path / "a")
    assert not (tmp_path / "a").exists()  # all or nothing
    s = import_dataset(images=p["images"], maps=p["maps"], texts=texts, out=tmp_path / "b",
                       resize=True)
    assert s.resized == 1
    ds = read_dataset(tmp_path / "b")
    m = ds.load_map(ds["x"])
    assert m.shape == (4, 5) and float(m.sum()) == pytest.approx(1.0, abs=1e-6)
    # the one resize of vista (pixel centres aligned), clipped at 0 and renormalised
    from vista.imaging import resize_map

    want = np.clip(resize_map(np.asarray(p["m8"], dtype=np.float64), (4, 5)), 0, None)
    np.testing.assert_allclose(m, want / want.sum(), rtol=1e-6)


@pytest.mark.parametrize(
    "content, suffix, message",
    [
        pytest.param("id,image,map\nx,a.jpg,a_dog.png\n", ".csv", r"t.csv:1: no 'text' column",
                     id="no-text-column"),
        pytest.param("id,image,text,caption\nx,a.jpg,a,b\n", ".csv", "'text', 'caption'",
                     id="ambiguous-columns"),
        pytest.param("id,image,text,map\nx,a.jpg,a dog,a_dog.png\nx,a.jpg,cat,a_dog.png\n",
                     ".csv", r"t.csv:3: duplicate id 'x' \(first on line 2\)", id="duplicate-id"),
        pytest.param("id,image,text,map\nx,a.jpg,,a_dog.png\n", ".csv", r"t.csv:2: empty text",
                     id="empty-text"),
        pytest.param("id,image,text,map\nx,a.jpg,a,a_dog.png,extra\n", ".csv",
                     r"t.csv:2: more fields", id="extra-field"),
        pytest.param("id,image,text,map\nx/y,a.jpg,a,a_dog.png\n", ".csv", "file-name-safe",
                     id="unsafe-id"),
        pytest.param('{"image": "a.jpg", "text": "a", "map": "a_dog.png"}\n{oops\n', ".jsonl",
                     r"t.jsonl:2: invalid JSON", id="bad-json"),
        pytest.param('["a.jpg", "a"]\n', ".jsonl", r"t.jsonl:1: each line must be a JSON object",
                     id="json-not-object"),
        pytest.param("image\ttext\n", ".txt", "expected .csv, .tsv or .jsonl", id="format"),
        pytest.param("id,image,text,map\n", ".csv", "no rows", id="no-rows"),
    ],
)
def test_bad_texts(tmp_path, content, suffix, message) -> None:
    p = make_inputs(tmp_path)
    texts = tmp_path / f"t{suffix}"
    texts.write_text(content)
    with pytest.raises(ParseError, match=message):
        import_dataset(images=p["images"], maps=p["maps"], texts=texts, out=tmp_path / "ds")


def test_not_utf8(tmp_path) -> None:
    p = make_inputs(tmp_path)
    texts = tmp_path / "t.jsonl"
    texts.write_bytes(b'{"image": "a.jpg", "text": "a", "map": "a_dog.png"}\n{"text": "\xff"}\n')
    with pytest.raises(ParseError, match=r"t.jsonl:2: .*not UTF-8"):
        import_dataset(images=p["images"], maps=p["maps"], texts=texts, out=tmp_path / "ds")


def test_bad_maps_and_files(tmp_path) -> None:
    p = make_inputs(tmp_path)
    Image.new("RGB", (8, 6), (255, 0, 0)).save(p["maps"] / "red.png")
    Image.new("L", (8, 6), 0).save(p["maps"] / "zero.png")
    cases = [
        ("x,a.jpg,a,red.png", ParseError, "red.png: map is a colour image"),
        ("x,a.jpg,a,zero.png", ParseError, "zero.png: map is all zero"),
        ("x,a.jpg,a,none.png", FileNotFoundError, r"t.csv:2: map .*none.png does not exist"),
        ("x,c.jpg,a,a_dog.png", FileNotFoundError, r"t.csv:2: image .*c.jpg does not exist"),
    ]
    for k, (row, error, message) in enumerate(cases):
        texts = tmp_path / "t.csv"
        texts.write_text("id,image,text,map\n" + row + "\n")
        with pytest.raises(error, match=message):
            import_dataset(images=p["images"], maps=p["maps"], texts=texts,
                           out=tmp_path / f"ds{k}")
        assert not (tmp_path / f"ds{k}").exists()


def test_grey_rgb_map_is_accepted(tmp_path) -> None:
    p = make_inputs(tmp_path)
    Image.new("RGB", (8, 6), (40, 40, 40)).save(p["maps"] / "grey.png")
    texts = tmp_path / "t.tsv"
    texts.write_text("id\timage\ttext\tmap\ng\ta.jpg\tflat\tgrey.png\n")
    import_dataset(images=p["images"], maps=p["maps"], texts=texts, out=tmp_path / "ds")
    ds = read_dataset(tmp_path / "ds")
    np.testing.assert_allclose(ds.load_map(ds["g"]), np.full((6, 8), 1 / 48), rtol=1e-6)


def test_never_overwrites(tmp_path) -> None:
    p = make_inputs(tmp_path)
    texts = tmp_path / "t.csv"
    texts.write_text("id,image,text,map\nx,a.jpg,a,a_dog.png\n")
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "keep.txt").write_text("mine")
    res = CliRunner().invoke(cli, ["import", "--images", str(p["images"]), "--maps",
                                   str(p["maps"]), "--texts", str(texts), "--out",
                                   str(tmp_path / "ds")])
    assert res.exit_code == 1 and "not empty" in res.output
    assert (tmp_path / "ds" / "keep.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    import_dataset(images=p["images"], maps=p["maps"], texts=texts, out=tmp_path / "empty")
    assert len(read_dataset(tmp_path / "empty")) == 1
