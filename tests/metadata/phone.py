"""Phone-like images for pier's metadata tests, written by Pillow (an encoder and an
EXIF writer independent of pier's): `phone.py make KIND ORIENTATION` writes one to stdout (`phone.py noise SIZE`: a
noisy one of about SIZE bytes, for the benchmark),
`phone.py check ORIGINAL SERVED` prints what the served file kept, as JSON."""
import io
import json
import sys

from PIL import Image, ImageCms

# How to store an upright picture so that EXIF orientation N turns it back.
STORE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><gps>PRIVATE-XMP 48.85N</gps></x:xmpmeta>'
GPS_IFD, EXIF_IFD = 0x8825, 0x8769


def upright():
    """64x32: red top-left, green top-right, blue bottom-left, white bottom-right."""
    image = Image.new("RGB", (64, 32), (255, 255, 255))
    image.paste((255, 0, 0), (0, 0, 32, 16))
    image.paste((0, 255, 0), (32, 0, 64, 16))
    image.paste((0, 0, 255), (0, 16, 32, 32))
    return image


def camera_exif(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x8298] = "(c) Ada Photographer"
    exif[0x013B] = "Ada Photographer"
    exif[0x010F] = "PhoneCo"
    exif[0x0110] = "Phone 15"
    sub = exif.get_ifd(EXIF_IFD)
    sub[0xA431] = "SN-PRIVATE-4242"
    sub[0x927C] = b"MAKERNOTE-PRIVATE"
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (48.0, 51.0, 29.59)
    return exif.tobytes()


def make(kind, orientation):
    image = upright()
    if STORE[orientation] is not None:
        image = image.transpose(STORE[orientation])
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    if kind == "jpeg":
        image.save(out, "JPEG", quality=95, exif=camera_exif(orientation), icc_profile=icc,
                   comment=b"PRIVATE-COMMENT", xmp=XMP)
    elif kind == "png":
        from PIL.PngImagePlugin import PngInfo
        info = PngInfo()
        info.add_text("Comment", "PRIVATE-COMMENT")
        info.add_text("Copyright", "(c) Ada Photographer")
        info.add_itxt("XML:com.adobe.xmp", XMP.decode())
        image.save(out, "PNG", exif=camera_exif(orientation), icc_profile=icc, pnginfo=info)
    elif kind == "webp":
        image.save(out, "WEBP", lossless=True, exif=camera_exif(orientation), icc_profile=icc,
                   xmp=XMP)
    elif kind == "gif":
        frames = [image.convert("P"), image.transpose(Image.Transpose.ROTATE_180).convert("P")]
        frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100,
                       loop=0, comment=b"PRIVATE-COMMENT")
    return out.getvalue()


def noise(size):
    """A phone-like JPEG of about `size` bytes: noise pixels (so they do not compress
    away) with the camera EXIF, an ICC profile, XMP and a comment; for the benchmark."""
    import random
    rng = random.Random(7)
    side = 64
    while True:
        pixels = bytes(rng.getrandbits(8) for _ in range(side * side * 3))
        image = Image.frombytes("RGB", (side, side), pixels)
        icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        out = io.BytesIO()
        image.save(out, "JPEG", quality=85, exif=camera_exif(6), icc_profile=icc,
                   comment=b"PRIVATE-COMMENT", xmp=XMP)
        if out.tell() >= size:
            return out.getvalue()
        side += 16


def frames(image):
    found = []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        found.append(image.convert("RGBA").tobytes())
    return found


def check(original, served):
    before, after = Image.open(io.BytesIO(original)), Image.open(io.BytesIO(served))
    exif = after.getexif()
    report = {
        "format": after.format,
        "tags": sorted(int(tag) for tag in exif.keys()),
        "gps": len(exif.get_ifd(GPS_IFD)),
        "exif_ifd": len(exif.get_ifd(EXIF_IFD)),
        "orientation": exif.get(0x0112),
        "copyright": exif.get(0x8298) or after.info.get("Copyright"),
        "icc_kept": after.info.get("icc_profile") is not None
        and after.info.get("icc_profile") == before.info.get("icc_profile"),
        "info": sorted(k for k in after.info if k not in ("icc_profile", "exif", "dpi", "jfif",
                                                          "jfif_version", "jfif_unit",
                                                          "jfif_density", "loop", "duration",
                                                          "background", "version",
                                                          "transparency", "Copyright",
                                                          "timestamp", "disposal",
                                                          # GIF's looping (NETSCAPE2.0)
                                                          "extension")),
        "private_bytes": b"PRIVATE" in served or b"PhoneCo" in served,
        "pixels_equal": frames(before) == frames(after),
        "frames": getattr(after, "n_frames", 1),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        sys.stdout.buffer.write(make(sys.argv[2], int(sys.argv[3])))
    elif sys.argv[1] == "noise":
        sys.stdout.buffer.write(noise(int(sys.argv[2])))
    else:
        with open(sys.argv[2], "rb") as a, open(sys.argv[3], "rb") as b:
            check(a.read(), b.read())
