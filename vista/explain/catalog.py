"""The built-in families, methods and recipes, declared by name (nothing heavy is
imported here; builders are ``"module:function"`` paths resolved at load time).

Each recipe cites the file and function it follows; the README's recipe table lists
them with their choices. ``vista-0.1`` is, for every family, the choices vista 0.1.0
made (its maps are reproduced exactly under that name).
"""

from __future__ import annotations

from .registry import ExplainerSpec, Recipe, register_family, register_method, register_recipe

__all__: list[str] = []

LAVIS_ITM = "salesforce/LAVIS lavis/models/blip_models/blip_image_text_matching.py"
LAVIS_NOTEBOOK = "salesforce/LAVIS examples/blip_text_localization.ipynb"
ALBEF_GROUNDING = "salesforce/ALBEF Grounding.py"
ALBEF_NOTEBOOK = "salesforce/ALBEF visualization.ipynb"
CHEFER_CLIP = "hila-chefer/Transformer-MM-Explainability CLIP_explainability.ipynb"
VILT_DEMO = "dandelin/ViLT demo.py"
CLIPSEG_QUICKSTART = "timojl/clipseg Quickstart.ipynb"
VISTA_01 = "vista 0.1.0"

for _spec in (
    ExplainerSpec("clip", "clip", "openai/clip-vit-base-patch16", "relevance",
                  "CLIP ViT: relevance of the last vision block for the image-text logit "
                  "(Chefer's CLIP notebook)", "57c216476eefef5ab752ec549e440a49ae4ae5f3",
                  model_class="CLIPModel", default_recipe="chefer"),
    ExplainerSpec("blip-itm-base", "blip", "Salesforce/blip-itm-base-coco", "gradcam",
                  "BLIP ITM base: Grad-CAM on text-encoder cross-attention (LAVIS "
                  "compute_gradcam)", model_class="BlipForImageTextRetrieval",
                  default_recipe="lavis"),
    ExplainerSpec("blip-itm-large", "blip", "Salesforce/blip-itm-large-coco", "gradcam",
                  "BLIP ITM large: Grad-CAM on text-encoder cross-attention (LAVIS "
                  "compute_gradcam)", model_class="BlipForImageTextRetrieval",
                  default_recipe="lavis"),
    ExplainerSpec("albef", "albef", "ALBEF checkpoint (local file or folder)", "gradcam",
                  "ALBEF: Grad-CAM on fusion cross-attention for the ITM score "
                  "(Grounding.py)", loader="albef:load_albef_model",
                  loader_options=("tokenizer", "text_heads", "vision_heads",
                                  "trust_checkpoint"),
                  default_recipe="grounding"),
    ExplainerSpec("vilt", "vilt", "dandelin/vilt-b32-finetuned-coco", "ipot",
                  "ViLT: word-patch alignment by optimal transport (ViLT's demo.py)",
                  model_class="ViltForImageAndTextRetrieval", default_recipe="ipot"),
    ExplainerSpec("clipseg", "clipseg", "CIDAS/clipseg-rd64-refined", "sigmoid",
                  "CLIPSeg rd64-refined: sigmoid of the segmentation logits",
                  "999e0328d9e10b484360c477313983f9afdd7050",
                  model_class="CLIPSegForImageSegmentation", default_recipe="rd64-refined"),
    ExplainerSpec("clipseg-rd16", "clipseg", "CIDAS/clipseg-rd16", "sigmoid",
                  "CLIPSeg rd16: sigmoid of the segmentation logits",
                  model_class="CLIPSegForImageSegmentation", default_recipe="rd16"),
):
    register_family(_spec)

_BLIP = ("blip-itm-base", "blip-itm-large")
_CLIPSEG = ("clipseg", "clipseg-rd16")
register_method("gradcam", family=_BLIP, builder="blip:build_gradcam",
                summary="Grad-CAM on attention probabilities (or token features) for a score")
register_method("gradcam", family="albef", builder="albef:build_gradcam")
register_method("gradcam", family="vilt", builder="vilt:build_gradcam")
register_method("gradcam", family="clip", builder="clip:build_gradcam")
register_method("gradcam", family=_CLIPSEG, builder="clipseg:build_gradcam")
register_method("relevance", family="clip", builder="clip:build_relevance",
                eager_attention=True,
                summary="Chefer et al. 2021 relevance through the vision self-attention")
register_method("ipot", family="vilt", builder="vilt:build_ipot",
                summary="ViLT's word-patch alignment: IPOT optimal transport (demo.py)")
register_method("sigmoid", family=_CLIPSEG, builder="clipseg:build_sigmoid",
                summary="sigmoid of the segmentation logits")

# --- BLIP: LAVIS -------------------------------------------------------------------

for _family in _BLIP:
    register_recipe(Recipe(
        "lavis", _family, "gradcam", LAVIS_ITM, "compute_gradcam (block_num=6, its default)",
        score="itm", tensor="cross-attention", block=6, clamp="gradient", head_reduce="mean",
        token_reduce="text", input_fit="squash",
        options={"first_token": "enc", "clean_text": True},
        summary="LAVIS compute_gradcam as called with its defaults; raw map, bilinear resize"))
    register_recipe(Recipe(
        "lavis-notebook", _family, "gradcam", LAVIS_NOTEBOOK,
        "compute_gradcam(block_num=7) then lavis/common/gradcam.py getAttMap(blur=True)",
        score="itm", tensor="cross-attention", block=7, clamp="gradient", head_reduce="mean",
        token_reduce="text", input_fit="squash", postprocess="getattmap",
        options={"first_token": "enc", "clean_text": True},
        summary="LAVIS text-localisation notebook: block 7, getAttMap without the overlay"))

# --- ALBEF: Grounding.py and visualization.ipynb --------------------------------------

register_recipe(Recipe(
    "grounding", "albef", "gradcam", ALBEF_GROUNDING, "val() with gradcam_mode='itm', block_num=8",
    score="itm", tensor="cross-attention", block=8, clamp="gradient", head_reduce="mean",
    token_reduce="all", input_fit="squash", options={"sep_token": "none", "clean_text": True},
    summary="ALBEF grounding (expects refcoco.pth): mean over heads, then over every token "
            "row, [CLS] included"))
register_recipe(Recipe(
    "grounding-itc", "albef", "gradcam", ALBEF_GROUNDING,
    "val() with gradcam_mode='itc', block_num=8", score="itc", tensor="self-attention",
    block=8, clamp="gradient", head_reduce="mean", token_reduce="cls", input_fit="squash",
    options={"sep_token": "none", "clean_text": True},
    summary="ALBEF grounding, ITC mode (expects refcoco.pth): visual self-attention, [CLS] row"))
register_recipe(Recipe(
    "notebook", "albef", "gradcam", ALBEF_NOTEBOOK, "per-word gradcam[i + 1] and getAttMap",
    score="itm", tensor="cross-attention", block=8, clamp="gradient", head_reduce="mean",
    token_reduce="each", input_fit="squash", postprocess="getattmap",
    options={"sep_token": "none", "clean_text": True},
    summary="ALBEF visualization notebook (refcoco.pth): each word's getAttMap, averaged"))

# --- CLIP: Chefer's CLIP notebook, and vista's Grad-CAM and all-block relevance ------

CLIP_B32 = "openai/clip-vit-base-patch32"
register_recipe(Recipe(
    "chefer", "clip", "relevance", CHEFER_CLIP, "interpret(start_layer=-1)",
    score="similarity", tensor="self-attention", clamp="product", head_reduce="mean",
    input_fit="crop", weights=CLIP_B32,
    options={"start_block": -1, "margin_fill": 0.0},
    summary="Chefer's CLIP notebook: relevance of the last block, ViT-B/32, CLIP's resize "
            "and centre crop; the margins outside the crop get 0 (no relevance)"))
register_recipe(Recipe(
    "chefer-pad", "clip", "relevance", CHEFER_CLIP, "interpret(start_layer=-1), padded input",
    score="similarity", tensor="self-attention", clamp="product", head_reduce="mean",
    input_fit="pad", weights=CLIP_B32, options={"start_block": -1},
    summary="chefer with the image padded to a square (mean colour) instead of cropped"))
register_recipe(Recipe(
    "gradcam", "clip", "gradcam", VISTA_01, "ClipExplainer (method gradcam)",
    score="similarity", tensor="layer_norm1", block=-1, input_fit="squash",
    summary="captum-style Grad-CAM on the last block's layer_norm1, ViT-B/16, squashed"))
register_recipe(Recipe(
    "relevance", "clip", "relevance", VISTA_01, "ClipExplainer (method relevance)",
    score="similarity", tensor="self-attention", clamp="product", head_reduce="mean",
    input_fit="squash", options={"start_block": 0},
    summary="Chefer et al. 2021 relevance through every block (the paper), ViT-B/16, squashed"))

# --- ViLT: demo.py's word-patch alignment ------------------------------------------

register_recipe(Recipe(
    "ipot", "vilt", "ipot", VILT_DEMO,
    "word-patch alignment: vilt/modules/objectives.py cost_matrix_cosine + ipot",
    score="alignment", tensor="final-features", token_reduce="each",
    input_fit="shorter-384", weights="dandelin/vilt-b32-mlm", model_class="ViltModel",
    options={"beta": 0.1, "iterations": 1000, "inner": 1, "normalise": "demo"},
    summary="ViLT's own heatmap: IPOT plan rows of the words, demo-normalised, averaged"))
register_recipe(Recipe(
    "gradcam", "vilt", "gradcam", VISTA_01, "ViltExplainer",
    score="itm", tensor="self-attention", block=-2, clamp="gradient", head_reduce="mean",
    token_reduce="text", input_fit="shorter-384",
    summary="LAVIS arithmetic on the word-to-patch attention of block L-2 (no reference "
            "code makes ViLT maps this way)"))

# --- CLIPSeg: the repository's quickstart -------------------------------------------

_CLIPSEG_WEIGHTS = {
    "rd64": ("CIDAS/clipseg-rd64", None, "the quickstart's weights (rd64-uni, not refined)"),
    "rd64-refined": ("CIDAS/clipseg-rd64-refined", "999e0328d9e10b484360c477313983f9afdd7050",
                     "the refined decoder (complex transposed convolution)"),
    "rd16": ("CIDAS/clipseg-rd16", None, "reduce_dim 16"),
}
for _family, _names in (("clipseg", ("rd64", "rd64-refined", "rd16")), ("clipseg-rd16", ("rd16",))):
    for _name in _names:
        _weights, _revision, _what = _CLIPSEG_WEIGHTS[_name]
        register_recipe(Recipe(
            _name, _family, "sigmoid", CLIPSEG_QUICKSTART,
            "CLIPDensePredT(...)(img, prompts), torch.sigmoid(preds[i][0])", score="sigmoid",
            tensor="logits", input_fit="quickstart", weights=_weights, revision=_revision,
            summary=f"quickstart: sigmoid of the logits at 352 x 352; {_what}"))

# --- vista 0.1.0's choices, kept under their own name --------------------------------

for _family in _BLIP:
    register_recipe(Recipe(
        "vista-0.1", _family, "gradcam", VISTA_01, "BlipExplainer", score="itm",
        tensor="cross-attention", block=7, clamp="gradient", head_reduce="mean",
        token_reduce="text", input_fit="squash",
        options={"first_token": "enc", "clean_text": True},
        summary="vista 0.1.0: LAVIS arithmetic at the notebook's block 7, bilinear resize"))
register_recipe(Recipe(
    "vista-0.1", "albef", "gradcam", VISTA_01, "AlbefExplainer", score="itm",
    tensor="cross-attention", block=8, clamp="gradient", head_reduce="mean",
    token_reduce="text", input_fit="squash",
    options={"sep_token": "none", "clean_text": True},
    summary="vista 0.1.0: mean over the text tokens only, bilinear resize"))
register_recipe(Recipe(
    "vista-0.1", "clip", "gradcam", VISTA_01, "ClipExplainer", score="similarity",
    tensor="layer_norm1", block=-1, input_fit="squash",
    summary="vista 0.1.0: captum-style Grad-CAM on the last block, ViT-B/16, squashed image"))
register_recipe(Recipe(
    "vista-0.1", "vilt", "gradcam", VISTA_01, "ViltExplainer", score="itm",
    tensor="self-attention", block=-2, clamp="gradient", head_reduce="mean",
    token_reduce="text", input_fit="shorter-384",
    summary="vista 0.1.0: LAVIS arithmetic on the word-to-patch attention of block L-2"))
for _family in _CLIPSEG:
    register_recipe(Recipe(
        "vista-0.1", _family, "sigmoid", VISTA_01, "ClipSegExplainer", score="sigmoid",
        tensor="logits", input_fit="squash",
        summary="vista 0.1.0: sigmoid of the logits, the transformers processor's resize"))
