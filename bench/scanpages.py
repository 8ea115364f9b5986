"""Realistic synthetic scans, deterministic from a seed: an A4 form, an ID card, a household-register page.

What a village station's document camera (高拍仪) saves: a 300 dpi picture of a paper, slightly rotated,
lit unevenly, with sensor noise and a little blur, saved by the vendor software as JPEG. Each page
comes with the printed text on it (the ground truth the OCR figures are measured against);
handwriting is drawn as pen strokes and is not part of that text (nobody reads it by OCR).

The Chinese text needs a CJK font: :data:`FONT_PATHS` lists where Debian's packages put them
(``fonts-wqy-microhei``, which CI installs; ``fonts-wqy-zenhei``; ``fonts-noto-cjk``). Neither Pillow nor
reportlab ships one (reportlab's STSong-Light is a PDF font name without glyph outlines), so without
one :func:`font_path` raises :class:`FontMissing` and the tests that need it skip (fail under CI).
"""

from __future__ import annotations

import dataclasses
import io
import math
import random
import shutil
import subprocess
from functools import cache
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

__all__ = (
    "DPI",
    "FONT_PACKAGE",
    "FONT_PATHS",
    "FontMissing",
    "ScanPage",
    "font_path",
    "form_page",
    "household_page",
    "id_card",
    "sample_pages",
)

DPI = 300
FONT_PACKAGE = "fonts-wqy-microhei"
FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
)

INK = (20, 20, 24)
PEN = (24, 38, 110)  # a blue ballpoint
SEAL = (200, 30, 40)


class FontMissing(RuntimeError):
    """No font with Chinese glyphs is installed (apt-get install fonts-wqy-microhei)."""


@dataclasses.dataclass(frozen=True)
class ScanPage:
    """A generated scan: the picture as the camera saw it and the printed text on it."""

    kind: str
    """"form", "id_card" or "household"."""
    image: Image.Image
    """RGB at :data:`DPI`, as the camera's software holds it before saving."""
    text: str
    """The printed characters, in reading order (the OCR ground truth); handwriting excluded."""
    material: str
    """The catalogue material such a page is attached to."""

    def file_bytes(self, fmt: str = "jpeg") -> bytes:
        """The file the vendor software saves: JPEG at quality 92 (what such software defaults to), or PNG."""
        out = io.BytesIO()
        if fmt == "png":
            self.image.save(out, "PNG", dpi=(DPI, DPI))
        else:
            self.image.save(out, "JPEG", quality=92, dpi=(DPI, DPI))
        return out.getvalue()


@cache
def font_path() -> str:
    """A font file with Chinese glyphs: a known Debian path, else what fontconfig matches for Chinese."""
    for path in FONT_PATHS:
        if Path(path).is_file():
            return path
    if shutil.which("fc-match"):
        found = subprocess.run(
            ["fc-match", "-f", "%{file}", ":lang=zh-cn"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if found and Path(found).is_file() and _has_cjk(found):
            return found
    raise FontMissing(f"no font with Chinese glyphs is installed (apt-get install {FONT_PACKAGE})")


def _has_cjk(path: str) -> bool:
    try:
        return ImageFont.truetype(path, 20).getmask("中").getbbox() is not None
    except OSError:
        return False


@cache
def _font(px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path(), px)


def _pt(points: float) -> int:
    """Font size in pixels at :data:`DPI` for a size in typographic points."""
    return round(points / 72 * DPI)


def _mm(millimetres: float) -> int:
    return round(millimetres / 25.4 * DPI)


# --- text ------------------------------------------------------------------------------------------------

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
_GIVEN = "建国秀英志强桂兰海燕明华春梅德福玉珍永红丽娟文杰"
_VILLAGES = ("石桥村", "柳河村", "东坪村", "杨家湾村", "新庄村", "马鞍山村", "清水村")
_TOWNS = ("城关镇", "河口镇", "三合乡", "白沙镇", "龙泉乡")
_SENTENCES = (
    "本人因家庭成员患病长期治疗，医疗支出较大，家庭收入不能维持基本生活。",
    "家中主要劳动力于去年因病丧失劳动能力，子女正在上学，没有其他稳定收入来源。",
    "现申请享受农村居民最低生活保障待遇，请予审核。",
    "本人承诺以上所填内容及提供的材料真实有效，如有虚假，愿承担相应的法律责任。",
    "本人同意民政部门及其委托的机构对家庭经济状况进行核查，并如实提供相关情况。",
    "家庭成员的收入、存款、车辆、房产等情况已如实申报，无隐瞒。",
    "如家庭人口、收入等情况发生变化，本人将在一个月内主动向村委会报告。",
    "经村民小组会议评议，该户家庭情况属实，同意上报乡镇人民政府审核。",
    "申请人家庭共有承包土地三亩，主要种植玉米和小麦，年收入约六千元。",
    "申请人配偶常年外出务工，收入不稳定，近两年未寄回生活费用。",
    "已领取的保障金如有多领，本人愿意全部退还。",
    "以上情况经入户调查核实，符合最低生活保障条件。",
)
_NOTES = (
    "填表说明：",
    "一、本表由申请人如实填写，字迹清楚，不得涂改。",
    "二、家庭成员包括配偶、未成年子女和共同生活的其他成员。",
    "三、申请人应同时提交居民身份证、居民户口簿复印件。",
    "四、村（居）民委员会应在七个工作日内完成调查并张榜公示。",
)


def _name(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.sample(_GIVEN, rng.choice((1, 2))))


def _id_number(rng: random.Random, birth: tuple[int, int, int]) -> str:
    from sync.idnumber import check_character

    body = f"{rng.choice(('410322', '410323', '410324'))}{birth[0]:04d}{birth[1]:02d}{birth[2]:02d}{rng.randrange(1000):03d}"
    return body + check_character(body)


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines, line = [], ""
    for char in text:
        if font.getlength(line + char) > width and line:
            lines.append(line)
            line = char
        else:
            line += char
    return [*lines, line] if line else lines


# --- handwriting and marks -------------------------------------------------------------------------------


def _scribble(draw: ImageDraw.ImageDraw, rng: random.Random, box: tuple[int, int, int, int], chars: int) -> None:
    """Handwriting-like ink: per character a few short curved pen strokes of varying weight."""
    left, top, right, bottom = box
    size = min(bottom - top, (right - left) // max(chars, 1))
    for index in range(chars):
        cx = left + index * size + size // 2 + rng.randint(-size // 10, size // 10)
        cy = (top + bottom) // 2 + rng.randint(-size // 12, size // 12)
        for _ in range(rng.randint(3, 7)):
            x0 = cx + rng.uniform(-0.4, 0.4) * size
            y0 = cy + rng.uniform(-0.4, 0.4) * size
            angle = rng.choice((0, 0, math.pi / 2, math.pi / 4, -math.pi / 4)) + rng.uniform(-0.3, 0.3)
            length = rng.uniform(0.3, 0.8) * size
            bend = rng.uniform(-0.25, 0.25)
            points = []
            for step in range(9):
                t = step / 8
                x = x0 + math.cos(angle) * length * t - math.sin(angle) * bend * length * math.sin(math.pi * t)
                y = y0 + math.sin(angle) * length * t + math.cos(angle) * bend * length * math.sin(math.pi * t)
                points.append((x, y))
            draw.line(points, fill=PEN, width=rng.randint(3, 5), joint="curve")


def _signature(draw: ImageDraw.ImageDraw, rng: random.Random, x: int, y: int, width: int) -> None:
    """A cursive signature: one long loopy stroke."""
    points, phase = [], rng.uniform(0, math.pi)
    for step in range(200):
        t = step / 199
        points.append(
            (
                x + width * t + 18 * math.sin(t * 23 + phase),
                y + 30 * math.sin(t * 17 + phase) * (1 - 0.5 * t) + 10 * math.cos(t * 41),
            )
        )
    draw.line(points, fill=PEN, width=4, joint="curve")


def _seal(image: Image.Image, centre: tuple[int, int], radius: int, text: str) -> None:
    """A round red seal (公章) with its text on the rim and a star, slightly faded."""
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    cx, cy = centre
    colour = (*SEAL, 190)
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), outline=colour, width=max(6, radius // 18))
    star = [
        (
            cx + (radius * (0.28 if k % 2 else 0.11)) * math.sin(k * math.pi / 5),
            cy - (radius * (0.28 if k % 2 else 0.11)) * math.cos(k * math.pi / 5),
        )
        for k in range(10)
    ]
    draw.polygon(star[1:] + star[:1], fill=colour)
    count = len(text)
    font = _font(max(12, min(radius // 4, round(3.1 * radius / count))))
    for index, char in enumerate(text):
        angle = math.pi * (-0.75 + 1.5 * index / max(count - 1, 1))
        glyph = Image.new("RGBA", (radius // 3, radius // 3), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((0, 0), char, font=font, fill=colour)
        glyph = glyph.rotate(-math.degrees(angle), resample=Image.Resampling.BICUBIC)
        gx = cx + (radius * 0.72) * math.sin(angle) - glyph.width / 2
        gy = cy - (radius * 0.72) * math.cos(angle) - glyph.height / 2
        layer.alpha_composite(glyph, (round(gx), round(gy)))
    image.paste(layer, (0, 0), layer)


# --- the camera ------------------------------------------------------------------------------------------


def _capture(page: Image.Image, rng: random.Random, *, backdrop: tuple[int, int, int], margin: int) -> Image.Image:
    """What the document camera records: the paper on its mat, a little rotated, unevenly lit, noisy, soft."""
    angle = rng.uniform(-1.2, 1.2)
    canvas = Image.new("RGB", (page.width + 2 * margin, page.height + 2 * margin), backdrop)
    canvas.paste(page, (margin, margin))
    canvas = canvas.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=backdrop)
    # Light falls off towards the corners (the camera's lamp is above the middle of the mat).
    fall = Image.radial_gradient("L").resize(canvas.size, Image.Resampling.BILINEAR)
    shift = (rng.randint(-canvas.width // 6, canvas.width // 6), rng.randint(-canvas.height // 6, canvas.height // 6))
    fall = ImageChops.offset(fall, *shift)
    light = fall.point(lambda v: 255 - v * 40 // 255).convert("RGB")
    canvas = ImageChops.multiply(canvas, light)
    canvas = canvas.filter(ImageFilter.GaussianBlur(0.8))
    # Sensor noise: deterministic (random.Random, not Pillow's effect_noise), about ±6 levels.
    noise_a = Image.frombytes("L", canvas.size, rng.randbytes(canvas.width * canvas.height))
    noise_b = Image.frombytes("L", canvas.size, rng.randbytes(canvas.width * canvas.height))
    noise = ImageChops.add(noise_a, noise_b, scale=2).point(lambda v: 128 + (v - 128) // 10)
    return ImageChops.add(canvas, Image.merge("RGB", (noise, noise, noise)), offset=-128)


# --- the pages -------------------------------------------------------------------------------------------


def form_page(seed: int) -> ScanPage:
    """An A4 application form (最低生活保障申请书): printed Chinese, a filled table, handwriting, a seal."""
    rng = random.Random(f"form-{seed}")
    width, height = _mm(210), _mm(297)
    page = Image.new("RGB", (width, height), (250, 249, 244))
    draw = ImageDraw.Draw(page)
    text: list[str] = []
    left, right = _mm(22), width - _mm(22)

    title = "最低生活保障申请书"
    title_font = _font(_pt(20))
    draw.text(((width - title_font.getlength(title)) / 2, _mm(22)), title, font=title_font, fill=INK)
    text.append(title)

    y = _mm(40)
    label_font, body_font, note_font = _font(_pt(12)), _font(_pt(11)), _font(_pt(9))
    rows = [
        ("申请人姓名", 4, "性别", 1),
        ("出生日期", 8, "民族", 1),
        ("身份证号码", 18, None, 0),
        ("家庭住址", 10, None, 0),
        ("联系电话", 11, "家庭人口", 1),
    ]
    row_h = _mm(13)
    mid = left + (right - left) * 3 // 5
    for label, chars, label2, chars2 in rows:
        draw.rectangle((left, y, right, y + row_h), outline=INK, width=3)
        draw.line((left + _mm(34), y, left + _mm(34), y + row_h), fill=INK, width=3)
        draw.text((left + _mm(3), y + _mm(3.5)), label, font=label_font, fill=INK)
        text.append(label)
        field_right = mid if label2 else right
        _scribble(draw, rng, (left + _mm(38), y + _mm(1), field_right - _mm(3), y + row_h - _mm(1)), min(chars, 12))
        if label2:
            draw.line((mid, y, mid, y + row_h), fill=INK, width=3)
            draw.line((mid + _mm(28), y, mid + _mm(28), y + row_h), fill=INK, width=3)
            draw.text((mid + _mm(3), y + _mm(3.5)), label2, font=label_font, fill=INK)
            text.append(label2)
            _scribble(draw, rng, (mid + _mm(31), y + _mm(2), right - _mm(3), y + row_h - _mm(2)), chars2)
        y += row_h

    draw.rectangle((left, y, right, y + _mm(112)), outline=INK, width=3)
    y += _mm(4)
    heading = "申请理由及家庭情况："
    draw.text((left + _mm(3), y), heading, font=label_font, fill=INK)
    text.append(heading)
    y += _mm(8)
    sentences = rng.sample(_SENTENCES, len(_SENTENCES))
    line_h = round(_pt(11) * 1.55)
    for line in _wrap("　　" + "".join(sentences), body_font, right - left - _mm(8)):
        draw.text((left + _mm(4), y), line, font=body_font, fill=INK)
        text.append(line.strip("　"))
        y += line_h
    y += _mm(6)
    draw.text((left + _mm(60), y + _mm(4)), "申请人签字：", font=label_font, fill=INK)
    text.append("申请人签字：")
    _signature(draw, rng, left + _mm(95), y + _mm(8), _mm(45))
    y += _mm(16)
    draw.text((left + _mm(60), y), "日期：　　年　　月　　日", font=label_font, fill=INK)
    text.append("日期：年月日")
    _scribble(draw, rng, (left + _mm(74), y, left + _mm(88), y + _mm(6)), 4)

    y = _mm(40) + row_h * len(rows) + _mm(118)
    village = rng.choice(_VILLAGES)
    verdict = "村（居）民委员会意见：经调查核实，情况属实，同意上报。"
    draw.text((left, y), verdict, font=label_font, fill=INK)
    text.append(verdict)
    _seal(page, (right - _mm(35), y + _mm(22)), _mm(20), f"{rng.choice(_TOWNS)}{village}民委员会")
    y += _mm(42)
    for note in _NOTES:
        draw.text((left, y), note, font=note_font, fill=INK)
        text.append(note)
        y += round(_pt(9) * 1.6)

    image = _capture(page, rng, backdrop=(58, 60, 66), margin=_mm(6))
    return ScanPage(kind="form", image=image, text="\n".join(text), material="最低生活保障申请书（表）")


def id_card(seed: int) -> ScanPage:
    """The front of a resident ID card (居民身份证) as the camera's ID mode saves it: the card, cropped."""
    rng = random.Random(f"id-{seed}")
    width, height = _mm(85.6), _mm(54)
    card = Image.new("RGB", (width, height), (232, 238, 240))
    draw = ImageDraw.Draw(card)
    # The printed security background: fine interlaced waves in pale colours.
    for k in range(0, height, 9):
        phase = rng.uniform(0, 6.28)
        points = [(x, k + 6 * math.sin(x / 37 + phase)) for x in range(0, width, 6)]
        draw.line(points, fill=(210, 222, 228) if k % 2 else (226, 214, 220), width=2)
    label_font, value_font, number_font = _font(_pt(6.5)), _font(_pt(8)), _font(_pt(9))
    label_colour = (40, 110, 160)
    name = _name(rng)
    birth = (rng.randint(1950, 2000), rng.randint(1, 12), rng.randint(1, 28))
    address = f"河南省洛阳市{rng.choice(_TOWNS)}{rng.choice(_VILLAGES)}{rng.randint(1, 9)}组{rng.randint(1, 60)}号"
    fields = [
        ("姓名", name),
        ("性别", rng.choice("男女") + "　　民族　汉"),
        ("出生", f"{birth[0]} 年 {birth[1]} 月 {birth[2]} 日"),
    ]
    text: list[str] = []
    x0, x1, y = _mm(5), _mm(17), _mm(6)
    for label, value in fields:
        draw.text((x0, y + 4), label, font=label_font, fill=label_colour)
        draw.text((x1, y), value, font=value_font, fill=INK)
        text.append(f"{label}{value.replace('　', '')}")
        y += _mm(7)
    draw.text((x0, y + 4), "住址", font=label_font, fill=label_colour)
    for line in _wrap(address, value_font, _mm(40)):
        draw.text((x1, y), line, font=value_font, fill=INK)
        text.append(line)
        y += _mm(4.6)
    number = _id_number(rng, birth)
    draw.text((x0, _mm(45)), "公民身份号码", font=label_font, fill=label_colour)
    draw.text((_mm(28), _mm(44)), number, font=number_font, fill=INK)
    text.append(f"公民身份号码{number}")
    # The photo: head and shoulders on a pale ground, in colour.
    px0, py0, px1, py1 = _mm(58), _mm(7), _mm(81), _mm(37)
    photo = Image.new("RGB", (px1 - px0, py1 - py0), (236, 240, 246))
    pd = ImageDraw.Draw(photo)
    pw, ph = photo.size
    skin = rng.choice(((224, 182, 150), (210, 165, 130), (232, 195, 165)))
    pd.ellipse((pw * 0.05, ph * 0.78, pw * 0.95, ph * 1.4), fill=rng.choice(((40, 44, 60), (70, 60, 50), (30, 60, 90))))
    pd.rectangle((pw * 0.42, ph * 0.6, pw * 0.58, ph * 0.82), fill=skin)
    pd.ellipse((pw * 0.27, ph * 0.18, pw * 0.73, ph * 0.72), fill=skin)
    pd.chord((pw * 0.25, ph * 0.1, pw * 0.75, ph * 0.55), 180, 360, fill=(28, 24, 22))
    for ex in (0.4, 0.6):
        pd.ellipse((pw * ex - 5, ph * 0.43 - 3, pw * ex + 5, ph * 0.43 + 3), fill=(30, 30, 30))
    pd.arc((pw * 0.42, ph * 0.52, pw * 0.58, ph * 0.62), 20, 160, fill=(150, 70, 70), width=3)
    photo = photo.filter(ImageFilter.GaussianBlur(1.2))
    card.paste(photo, (px0, py0))
    mask = Image.new("L", card.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, width - 1, height - 1), radius=_mm(3.2), fill=255)
    framed = Image.new("RGB", card.size, (235, 235, 235))
    framed.paste(card, (0, 0), mask)
    image = _capture(framed, rng, backdrop=(236, 236, 236), margin=_mm(2))
    return ScanPage(kind="id_card", image=image, text="\n".join(text), material="居民身份证")


def household_page(seed: int) -> ScanPage:
    """A household register's resident page (常住人口登记卡): a printed grid, typed entries, the police seal."""
    rng = random.Random(f"household-{seed}")
    width, height = _mm(130), _mm(185)
    page = Image.new("RGB", (width, height), (244, 240, 226))
    draw = ImageDraw.Draw(page)
    for k in range(0, width + height, 14):  # the pale printed guilloche of the booklet
        draw.line((k, 0, k - height, height), fill=(236, 230, 212), width=2)
    grid = (150, 90, 70)
    label_font, value_font, title_font = _font(_pt(7.5)), _font(_pt(9)), _font(_pt(14))
    text: list[str] = []
    title = "常住人口登记卡"
    draw.text(((width - title_font.getlength(title)) / 2, _mm(8)), title, font=title_font, fill=grid)
    text.append(title)
    birth = (rng.randint(1950, 2010), rng.randint(1, 12), rng.randint(1, 28))
    town, village = rng.choice(_TOWNS), rng.choice(_VILLAGES)
    rows = [
        (("姓名", _name(rng)), ("户主或与户主关系", rng.choice(("户主", "妻", "长子", "长女")))),
        (("曾用名", ""), ("性别", rng.choice("男女"))),
        (("出生地", f"河南省洛阳市{town}"), ("民族", "汉族")),
        (("籍贯", "河南省洛阳市"), ("出生日期", f"{birth[0]}年{birth[1]:02d}月{birth[2]:02d}日")),
        (("本市县其他住址", ""), ("宗教信仰", "")),
        (("公民身份证件编号", _id_number(rng, birth)), ("身高", f"{rng.randint(150, 185)}厘米")),
        (("文化程度", rng.choice(("初中", "高中", "小学", "大学专科"))), ("婚姻状况", rng.choice(("已婚", "未婚")))),
        (("服务处所", f"{village}"), ("职业", "农民")),
        (("何时由何地迁来本市县", ""), ("何时由何地迁来本址", "")),
    ]
    left, right, top = _mm(8), width - _mm(8), _mm(22)
    row_h = _mm(14)
    mid = (left + right) // 2
    for index, pair in enumerate(rows):
        y = top + index * row_h
        draw.rectangle((left, y, right, y + row_h), outline=grid, width=3)
        draw.line((mid, y, mid, y + row_h), fill=grid, width=3)
        for (label, value), x in zip(pair, (left, mid), strict=True):
            draw.text((x + _mm(1.5), y + _mm(1.5)), label, font=label_font, fill=grid)
            text.append(label)
            if value:
                draw.text((x + _mm(3), y + _mm(6.5)), value, font=value_font, fill=INK)
                text.append(value)
    y = top + len(rows) * row_h + _mm(6)
    registrar = "承办人签章："
    draw.text((left, y), registrar, font=label_font, fill=grid)
    text.append(registrar)
    _signature(draw, rng, left + _mm(22), y + _mm(3), _mm(22))
    date = f"登记日期：{rng.randint(2010, 2024)}年{rng.randint(1, 12):02d}月{rng.randint(1, 28):02d}日"
    draw.text((left, y + _mm(10)), date, font=label_font, fill=grid)
    text.append(date)
    _seal(page, (right - _mm(24), y + _mm(8)), _mm(18), f"洛阳市公安局{town}派出所户口专用章")
    image = _capture(page, rng, backdrop=(70, 64, 60), margin=_mm(5))
    return ScanPage(kind="household", image=image, text="\n".join(text), material="居民户口簿")


def sample_pages(seed: int = 1) -> list[ScanPage]:
    """One of each: the form, the ID card, the household-register page."""
    return [form_page(seed), id_card(seed), household_page(seed)]


if __name__ == "__main__":  # python -m bench.scanpages OUTDIR: look at them
    import sys

    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    folder.mkdir(parents=True, exist_ok=True)
    for sample in sample_pages(int(sys.argv[2]) if len(sys.argv) > 2 else 1):
        (folder / f"{sample.kind}.jpg").write_bytes(sample.file_bytes())
        print(folder / f"{sample.kind}.jpg", sample.image.size)
