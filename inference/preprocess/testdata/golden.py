#!/usr/bin/python3
"""Regenerate the golden crops for the preprocess package tests.

Run from anywhere with Debian's Python (not a pyenv one):

    /usr/bin/python3 inference/preprocess/testdata/golden.py

Needs the Debian packages python3-pil, python3-numpy and python3-skimage
(`make test` installs them). The source photos are read from the installed
scikit-image data directory and are not committed; only small generated crops
are (the golden outputs, as lossless 8-bit PNG).

For every case this does what Hugging Face's CLIPImageProcessor does before its
float arithmetic: convert to RGB, resize with Pillow (Image.resize with the
configured filter) to the size transformers' get_resize_output_image_size
computes, and centre crop (zero padding when the image is smaller), exactly as
transformers.image_transforms.center_crop. The rescale and normalise steps are
deterministic float32 arithmetic on these bytes, so the Go test applies them to
the golden bytes itself. The case list, with the configuration each case uses,
goes to golden.json, which the Go test reads.
"""

import json
import math
import os
import sys

import numpy as np
import PIL
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = "/usr/lib/python3/dist-packages/skimage/data"

# preprocessor_config.json of openai/clip-vit-base-patch32 (old CLIPFeatureExtractor keys).
CLIP_B32 = {
    "crop_size": 224,
    "do_center_crop": True,
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "CLIPFeatureExtractor",
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "resample": 3,
    "size": 224,
}

# The same in the newer CLIPImageProcessor format, 336 pixels (openai/clip-vit-large-patch14-336).
CLIP_L14_336 = {
    "crop_size": {"height": 336, "width": 336},
    "do_center_crop": True,
    "do_convert_rgb": True,
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_processor_type": "CLIPImageProcessor",
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "processor_class": "CLIPProcessor",
    "resample": 3,
    "rescale_factor": 0.00392156862745098,
    "size": {"shortest_edge": 336},
}


def variant(**kw):
    c = dict(CLIP_B32)
    c.update(kw)
    return c


# name, source, crop box (x, y, w, h) applied to the decoded source or None,
# mirror size (W, H) applied after the crop or None, config.
# mirror tiles the image with reflected copies (numpy's "symmetric" padding)
# up to W x H: a deterministic way to make a large frame from a real photo.
CASES = [
    ("astronaut", "astronaut.png", None, None, CLIP_B32),
    ("chelsea", "chelsea.png", None, None, CLIP_B32),
    ("coffee", "coffee.png", None, None, CLIP_B32),
    ("motorcycle", "motorcycle_left.png", None, None, CLIP_B32),
    ("rocket_jpeg", "rocket.jpg", None, None, CLIP_B32),
    ("frame_1920x1080", "motorcycle_left.png", None, (1920, 1080), CLIP_B32),
    ("frame_1080x1920", "coffee.png", None, (1080, 1920), CLIP_B32),
    ("portrait_257x400", "coffee.png", (171, 0, 257, 400), None, CLIP_B32),
    ("odd_333x227", "chelsea.png", (57, 31, 333, 227), None, CLIP_B32),
    ("tiny_37x50_upscale", "astronaut.png", (180, 60, 37, 50), None, CLIP_B32),
    ("single_pixel", "astronaut.png", (200, 100, 1, 1), None, CLIP_B32),
    ("wide_600x7", "coffee.png", (0, 200, 600, 7), None, CLIP_B32),
    ("l14_336", "astronaut.png", None, None, CLIP_L14_336),
    ("bilinear", "chelsea.png", None, None, variant(resample=2)),
    ("lanczos", "coffee.png", (100, 50, 400, 300), None, variant(resample=1)),
    ("hamming", "motorcycle_left.png", (0, 0, 500, 400), None, variant(resample=5)),
    ("box", "astronaut.png", (0, 0, 300, 301), None, variant(resample=4)),
    ("squash_no_crop", "coffee.png", None, None,
     variant(size={"height": 224, "width": 224}, do_center_crop=False)),
    ("pad_small_no_resize", "chelsea.png", (200, 100, 150, 120), None,
     variant(do_resize=False)),
    ("pad_one_side", "coffee.png", (10, 20, 300, 101), None,
     variant(do_resize=False, crop_size={"height": 128, "width": 160})),
    ("pad_after_resize", "chelsea.png", None, None,
     variant(size=200, crop_size={"height": 224, "width": 180})),
]


def size_dict(size, default_to_square, param):
    """transformers' get_size_dict for the forms a JSON file can hold."""
    if isinstance(size, dict):
        d = size
    elif isinstance(size, int):
        d = {"height": size, "width": size} if default_to_square else {"shortest_edge": size}
    elif isinstance(size, list):
        d = {"height": size[0], "width": size[1]}
    else:
        raise ValueError(f"{param}: cannot convert {size!r}")
    valid = [{"height", "width"}, {"shortest_edge"}, {"shortest_edge", "longest_edge"},
             {"longest_edge"}, {"max_height", "max_width"}]
    if set(d) not in valid:
        raise ValueError(f"{param}: bad keys {sorted(d)}")
    return d


def resize_output_size(height, width, size):
    """CLIPImageProcessor.resize + get_resize_output_image_size(default_to_square=False)."""
    if "shortest_edge" in size:
        s = size["shortest_edge"]
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = s, int(s * long / short)
        return (new_long, new_short) if width <= height else (new_short, new_long)
    return size["height"], size["width"]


def center_crop(image, crop_height, crop_width):
    """transformers.image_transforms.center_crop on an H x W x C array."""
    orig_height, orig_width = image.shape[:2]
    top = (orig_height - crop_height) // 2
    bottom = top + crop_height
    left = (orig_width - crop_width) // 2
    right = left + crop_width
    if top >= 0 and bottom <= orig_height and left >= 0 and right <= orig_width:
        return image[top:bottom, left:right]
    new_height = max(crop_height, orig_height)
    new_width = max(crop_width, orig_width)
    new_image = np.zeros((new_height, new_width) + image.shape[2:], dtype=image.dtype)
    top_pad = math.ceil((new_height - orig_height) / 2)
    left_pad = math.ceil((new_width - orig_width) / 2)
    new_image[top_pad:top_pad + orig_height, left_pad:left_pad + orig_width] = image
    top += top_pad
    bottom += top_pad
    left += left_pad
    right += left_pad
    return new_image[max(0, top):min(new_height, bottom), max(0, left):min(new_width, right)]


def mirror(arr, width, height):
    def idx(n, size):
        i = np.arange(size) % (2 * n)
        return np.where(i < n, i, 2 * n - 1 - i)
    return arr[idx(arr.shape[0], height)][:, idx(arr.shape[1], width)]


def clip_pixels(arr, config):
    """CLIPImageProcessor up to (not including) rescale and normalise."""
    size = size_dict(config.get("size") or {"shortest_edge": 224}, False, "size")
    crop = size_dict(config.get("crop_size") or {"height": 224, "width": 224}, True, "crop_size")
    if config.get("do_resize", True):
        h, w = resize_output_size(arr.shape[0], arr.shape[1], size)
        im = Image.fromarray(arr, mode="RGB")
        arr = np.asarray(im.resize((w, h), resample=config.get("resample", 3)))
    if config.get("do_center_crop", True):
        arr = center_crop(arr, crop["height"], crop["width"])
    return arr


def normalised_table(config):
    """What transformers' rescale and normalize make of each byte value, per
    channel: rescale multiplies in float64 and stores float32, normalize
    subtracts and divides in float32. Rows are R, G, B; repr of the float32
    value (as a Python float) round-trips exactly."""
    image = np.repeat(np.arange(256, dtype=np.uint8).reshape(1, 256, 1), 3, axis=2)
    x = (image.astype(np.float64) * config.get("rescale_factor", 1 / 255)).astype(np.float32)
    mean = np.array(config["image_mean"], dtype=x.dtype)
    std = np.array(config["image_std"], dtype=x.dtype)
    x = (x - mean) / std
    assert x.dtype == np.float32
    return [[float(v) for v in x[0, :, c]] for c in range(3)]


def main():
    if not os.path.isdir(DATA):
        sys.exit(f"{DATA} missing: apt-get install python3-skimage")
    manifest = {
        "generator": "testdata/golden.py",
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "source_dir": DATA,
        "cases": [],
    }
    for name, source, box, mirror_size, config in CASES:
        im = Image.open(os.path.join(DATA, source))
        im.load()
        if im.mode != "RGB":
            sys.exit(f"{source}: mode {im.mode}, want RGB sources only")
        arr = np.asarray(im)
        if box is not None:
            x, y, w, h = box
            if x + w > arr.shape[1] or y + h > arr.shape[0]:
                sys.exit(f"{name}: crop {box} outside {source} {arr.shape[1]}x{arr.shape[0]}")
            arr = arr[y:y + h, x:x + w]
        if mirror_size is not None:
            arr = mirror(arr, *mirror_size)
        arr = np.ascontiguousarray(arr)
        out = clip_pixels(arr, config)
        golden = f"golden/{name}.png"
        Image.fromarray(np.ascontiguousarray(out), mode="RGB").save(
            os.path.join(HERE, golden), optimize=True)
        case = {"name": name, "source": source, "config": config, "golden": golden,
                "input_width": arr.shape[1], "input_height": arr.shape[0],
                "output_width": out.shape[1], "output_height": out.shape[0]}
        if box is not None:
            case["crop"] = list(box)
        if mirror_size is not None:
            case["mirror"] = list(mirror_size)
        manifest["cases"].append(case)
        print(f"{name}: {arr.shape[1]}x{arr.shape[0]} -> {out.shape[1]}x{out.shape[0]}")
    manifest["normalised"] = normalised_table(CLIP_B32)
    with open(os.path.join(HERE, "golden.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
