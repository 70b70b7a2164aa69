#!/usr/bin/env python3
"""Deterministic corpora for bench/bench-dlp.sh.

    dlp-corpus.py text DIR MB     mixed text: Vietnamese prose (UTF-8 NFC, some files NFD),
                                  logs and CSV, with planted identifiers and decoys
    dlp-corpus.py docs DIR COUNT  documents: docx, xlsx, pptx, odt, pdf, eml, zip (a docx and a
                                  text file inside), COUNT in all, 4 to 33 KB each (median 11 KB)

Planted data is valid by the detectors' rules (CCCD province and year, MST check digit,
libphonenumber mobile ranges, Luhn, BHYT groups); decoys look like identifiers and are not
(unknown province, wrong MST check digit, wrong Luhn digit, order and ticket numbers,
timestamps, "mật khẩu" and "MẶT TRẬN" next to real markings). The same seed gives the same
bytes. Writes DIR/manifest.json with what was planted.
"""

import base64
import io
import json
import os
import random
import sys
import unicodedata
import zipfile

SEED = 20261127
PROVINCES = [1, 2, 4, 8, 11, 22, 31, 36, 38, 48, 56, 58, 66, 75, 79, 89, 92, 96]
BAD_PROVINCES = [3, 5, 7, 9, 13, 16, 18, 21, 23, 28, 29, 32, 39, 41, 43, 47, 50, 53, 55, 57, 59]
BHYT_GROUPS = ["DN", "HC", "HT", "TE", "HS", "SV", "GD", "HN", "CN", "TN", "CC", "QN", "CA"]

WORDS = (
    "và của là có trong được cho những các với một này đã không người theo về đến khi từ tại "
    "năm cũng nhưng như để sẽ đó nhiều hơn phải vào còn lại trên sau ra chỉ rằng thì nhà nước "
    "Việt Nam tỉnh thành phố huyện xã phường ủy ban nhân dân sở ban ngành công tác kế hoạch "
    "triển khai thực hiện báo cáo tình hình kinh tế xã hội quý tháng đồng chí cán bộ công chức "
    "viên chức đơn vị cơ quan hành chính văn bản quyết định thông tư nghị định chỉ thị hướng "
    "dẫn đề nghị kính gửi phối hợp kiểm tra giám sát đánh giá kết quả nhiệm vụ trọng tâm giải "
    "pháp nâng cao chất lượng hiệu quả quản lý an ninh trật tự an toàn giao thông y tế giáo dục "
    "đào tạo nông nghiệp môi trường tài nguyên đất đai xây dựng hạ tầng chuyển đổi số dịch vụ "
    "công trực tuyến hồ sơ thủ tục tiếp nhận giải quyết đúng hạn trễ hạn người dân doanh nghiệp "
    "ngân sách dự toán quyết toán vốn đầu tư công tiến độ hoàn thành tổ chức hội nghị tổng kết "
    "thi đua khen thưởng kỷ luật bảo đảm nghiêm túc kịp thời thường xuyên liên tục đầy đủ chính "
    "xác thống nhất tăng cường đẩy mạnh tiếp tục rà soát bổ sung điều chỉnh sửa đổi ban hành"
).split()

SURNAMES = "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý".split()
MIDDLE = "Văn Thị Hữu Đức Minh Thanh Ngọc Quốc Thu Hoài Gia Xuân".split()
GIVEN = "An Bình Châu Dũng Giang Hà Hải Hạnh Hòa Hùng Hương Khánh Lan Linh Long Mai Nam Phương Quân Sơn Tâm Thảo Trang Tuấn Vy".split()
PLACES = ["Hà Nội", "Khánh Hòa", "Ninh Thuận", "Đà Nẵng", "Huế", "Cần Thơ", "Hải Phòng", "Quảng Ninh", "Nghệ An"]


def mst_check(first9):
    weights = [31, 29, 23, 19, 17, 13, 7, 5, 3]
    s = sum(int(d) * w for d, w in zip(first9, weights))
    c = 10 - s % 11
    return c if c < 10 else None


def luhn_digit(body):
    total = 0
    for i, d in enumerate(reversed(body)):
        d = int(d)
        if i % 2 == 0:
            d = d * 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.planted = {}

    def count(self, kind):
        self.planted[kind] = self.planted.get(kind, 0) + 1

    def name(self):
        r = self.r
        return f"{r.choice(SURNAMES)} {r.choice(MIDDLE)} {r.choice(GIVEN)}"

    def cccd(self):
        r = self.r
        self.count("cccd")
        return f"{r.choice(PROVINCES):03d}{r.choice('01')}{r.randint(50, 99):02d}{r.randint(0, 999999):06d}"

    def cccd_decoy(self):  # unknown province: not a CCCD
        r = self.r
        return f"{r.choice(BAD_PROVINCES):03d}{r.choice('01')}{r.randint(50, 99):02d}{r.randint(0, 999999):06d}"

    def mst(self):
        r = self.r
        while True:
            first = f"{r.choice(['01', '02', '03', '04', '42', '58'])}{r.randint(1, 9999999):07d}"
            c = mst_check(first)
            if c is not None:
                self.count("mst")
                return f"{first}{c}"

    def mst_decoy(self):  # wrong check digit
        r = self.r
        while True:
            first = f"{r.choice(['01', '42'])}{r.randint(1, 9999999):07d}"
            c = mst_check(first)
            if c is not None:
                return f"{first}{(c + 1 + r.randint(0, 7)) % 10}"

    def phone(self):
        r = self.r
        self.count("phone")
        prefix = r.choice(["090", "091", "093", "094", "096", "097", "098", "032", "035", "038", "070", "077", "081", "085"])
        rest = f"{r.randint(0, 9999999):07d}"
        style = r.randint(0, 3)
        if style == 0:
            return prefix + rest
        if style == 1:
            return f"{prefix[:4]} {prefix[4:]}{rest[:2]} {rest[2:]}" if len(prefix) > 4 else f"{prefix}{rest[0]} {rest[1:4]} {rest[4:]}"
        if style == 2:
            return f"{prefix}.{rest[:3]}.{rest[3:]}"
        return f"+84 {prefix[1:]} {rest[:3]} {rest[3:]}"

    def card(self):
        r = self.r
        self.count("card")
        body = r.choice(["9704", "4"]) + "".join(r.choice("0123456789") for _ in range(14))
        body = body[:15]
        number = body + str(luhn_digit(body))
        if r.random() < 0.5:
            return " ".join(number[i:i + 4] for i in range(0, 16, 4))
        return number

    def card_decoy(self):  # wrong Luhn digit, not 9704
        r = self.r
        body = "5" + "".join(r.choice("0123456789") for _ in range(14))
        return body + str((luhn_digit(body) + 1 + r.randint(0, 8)) % 10)

    def bhyt(self):
        r = self.r
        self.count("bhyt")
        return f"{r.choice(BHYT_GROUPS)}{r.randint(1, 5)}{r.choice(PROVINCES):02d}{r.randint(0, 9999999999):010d}"

    def email(self):
        r = self.r
        self.count("email")
        user = f"{r.choice(['nguyen', 'tran', 'le', 'pham', 'hoang'])}.{r.choice(['an', 'binh', 'hai', 'lan', 'nam'])}{r.randint(1, 999)}"
        return f"{user}@{r.choice(['khanhhoa.gov.vn', 'ninhthuan.gov.vn', 'example.vn', 'mail.example.com'])}"

    def sentence(self):
        r = self.r
        n = r.randint(8, 24)
        words = [r.choice(WORDS) for _ in range(n)]
        words[0] = words[0][:1].upper() + words[0][1:]
        return " ".join(words) + r.choice([".", ".", ".", ";", ":"])

    # --- files -------------------------------------------------------------------------

    def prose_paragraph(self):
        r = self.r
        parts = [self.sentence() for _ in range(r.randint(3, 7))]
        x = r.random()
        if x < 0.06:
            parts.append(f"Ông/bà {self.name()}, số CCCD: {self.cccd()}, cấp ngày {r.randint(1, 28):02d}/{r.randint(1, 12):02d}/{r.randint(2016, 2024)} tại {r.choice(PLACES)}.")
        elif x < 0.10:
            parts.append(f"Điện thoại liên hệ: {self.phone()}; e-mail {self.email()}.")
        elif x < 0.13:
            parts.append(f"Công ty TNHH {r.choice(GIVEN)} {r.choice(PLACES)}, mã số thuế {self.mst()}.")
        elif x < 0.16:
            parts.append(f"Văn bản số {r.randint(1, 999)}/{r.choice(['QĐ', 'KH', 'BC', 'TB'])}-UBND ngày {r.randint(1, 28)}/{r.randint(1, 12)}/2026, mã hồ sơ {self.cccd_decoy()}, biên nhận {self.mst_decoy()}.")
        elif x < 0.18:
            parts.append("Đồng chí lưu ý đổi mật khẩu hộp thư công vụ; Ủy ban MẶT TRẬN Tổ quốc tỉnh phối hợp thực hiện.")
        text = " ".join(parts)
        if r.random() < 0.01:
            self.count("marking")
            text = r.choice(["MẬT", "TỐI MẬT", "TÀI LIỆU THU HỒI", "Độ mật: Mật"]) + "\n" + text
        return text

    def prose(self, size, nfd):
        out, n = [], 0
        while n < size:
            p = self.prose_paragraph()
            if nfd:
                p = unicodedata.normalize("NFD", p)
            p += "\n\n"
            out.append(p)
            n += len(p.encode())
        return "".join(out)

    def log(self, size):
        r = self.r
        out, n = [], 0
        t = r.randint(0, 86400 * 300)
        while n < size:
            t += r.randint(0, 3)
            ts = f"2026-{1 + t // 2592000 % 12:02d}-{1 + t // 86400 % 28:02d}T{t // 3600 % 24:02d}:{t // 60 % 60:02d}:{t % 60:02d}.{r.randint(0, 999):03d}Z"
            ip = f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
            x = r.random()
            if x < 0.4:
                line = f"{ts} mc-{r.randint(1, 40):02d} sshd[{r.randint(1000, 99999)}]: Accepted publickey for u{r.randint(1000, 9999)} from {ip} port {r.randint(1024, 65535)} ssh2"
            elif x < 0.8:
                line = (f'{ip} - - [{ts}] "GET /dichvucong/hoso/{r.randint(100000000, 999999999999)}?page={r.randint(1, 50)} HTTP/1.1" '
                        f'{r.choice([200, 200, 200, 304, 404])} {r.randint(200, 90000)} "-" "Mozilla/5.0 (X11; Linux x86_64)"')
            elif x < 0.9:
                line = f"{ts} INFO api.hoso request_id={r.getrandbits(64):016x} duration_ms={r.randint(1, 3000)} order={r.randint(10**11, 10**12 - 1)} status=ok"
            elif x < 0.95:
                line = f"{ts} INFO api.citizen lookup cccd={self.cccd()} phone={self.phone()} result=found"
            elif x < 0.98:
                line = f"{ts} WARN payment card={self.card_decoy()} rejected: luhn"
            else:
                line = f"{ts} INFO payment card={self.card()} email={self.email()} accepted"
            line += "\n"
            out.append(line)
            n += len(line)
        return "".join(out)

    def csv(self, size):
        r = self.r
        out = ["stt,ho_ten,so_cccd,ma_so_thue,dien_thoai,so_the,so_bhyt,email,dia_chi,ma_don\n"]
        n, i = len(out[0]), 0
        while n < size:
            i += 1
            decoy = r.random() < 0.3
            row = [
                str(i),
                self.name(),
                self.cccd_decoy() if decoy else self.cccd(),
                self.mst_decoy() if decoy else self.mst(),
                self.phone(),
                self.card_decoy() if decoy else self.card(),
                self.bhyt() if r.random() < 0.3 else "",
                self.email(),
                f'"{r.randint(1, 300)} đường {r.choice(GIVEN)}, {r.choice(PLACES)}"',
                f"DH{r.randint(10**11, 10**12 - 1)}",
            ]
            line = ",".join(row) + "\n"
            out.append(line)
            n += len(line.encode())
        return "".join(out)


def text_corpus(root, mb):
    g = Gen(SEED)
    r = g.r
    total, i = 0, 0
    budget = mb * 1_000_000
    for d in ("prose", "logs", "csv"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    while total < budget:
        kind = ["prose", "prose", "logs", "csv"][i % 4]
        size = r.choice([64 << 10, 256 << 10, 1 << 20, 4 << 20, 8 << 20])
        if kind == "prose":
            nfd = i % 5 == 4
            data = g.prose(size, nfd)
            name = f"prose/vanban-{i:04d}{'-nfd' if nfd else ''}.txt"
        elif kind == "logs":
            data = g.log(size)
            name = f"logs/access-{i:04d}.log"
        else:
            data = g.csv(size)
            name = f"csv/danhsach-{i:04d}.csv"
        raw = data.encode()
        with open(os.path.join(root, name), "wb") as f:
            f.write(raw)
        total += len(raw)
        i += 1
    return {"files": i, "bytes": total, "planted": g.planted}


# --- documents -----------------------------------------------------------------------------

def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def zip_bytes(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 27, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def docx(paragraphs, header="LƯU HÀNH NỘI BỘ"):
    body = "".join(f"<w:p><w:r><w:t>{esc(p)}</w:t></w:r></w:p>" for p in paragraphs)
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    return zip_bytes([
        ("[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'),
        ("word/document.xml", f'<?xml version="1.0" encoding="UTF-8"?><w:document {w}><w:body>{body}</w:body></w:document>'),
        ("word/header1.xml", f'<w:hdr {w}><w:p><w:r><w:t>{esc(header)}</w:t></w:r></w:p></w:hdr>'),
    ])


def xlsx(rows):
    cells = []
    for i, row in enumerate(rows, 1):
        cs = "".join(f'<c r="{chr(65 + j)}{i}" t="inlineStr"><is><t>{esc(v)}</t></is></c>' for j, v in enumerate(row))
        cells.append(f'<row r="{i}">{cs}</row>')
    sheet = f'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{"".join(cells)}</sheetData></worksheet>'
    shared = '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>Danh sách cán bộ</t></si></sst>'
    return zip_bytes([("[Content_Types].xml", "<Types/>"), ("xl/sharedStrings.xml", shared),
                      ("xl/worksheets/sheet1.xml", sheet), ("xl/styles.xml", "<styleSheet/>")])


def pptx(slides):
    a = 'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"'
    entries = [("[Content_Types].xml", "<Types/>")]
    for k, paras in enumerate(slides, 1):
        body = "".join(f"<a:p><a:r><a:t>{esc(p)}</a:t></a:r></a:p>" for p in paras)
        entries.append((f"ppt/slides/slide{k}.xml", f"<p:sld {a}><p:cSld><p:spTree><p:sp><p:txBody>{body}</p:txBody></p:sp></p:spTree></p:cSld></p:sld>"))
    return zip_bytes(entries)


def odt(paragraphs):
    ns = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')
    body = "".join(f"<text:p>{esc(p)}</text:p>" for p in paragraphs)
    content = f"<office:document-content {ns}><office:body><office:text>{body}</office:text></office:body></office:document-content>"
    return zip_bytes([("mimetype", "application/vnd.oasis.opendocument.text"),
                      ("META-INF/manifest.xml", "<manifest:manifest/>"), ("content.xml", content)])


def pdf(pages):
    """Text pages in Helvetica; each line a Tj (PDF strings: ASCII, Vietnamese stripped)."""
    def ascii_line(s):
        s = unicodedata.normalize("NFD", s).replace("đ", "d").replace("Đ", "D")
        s = "".join(c for c in s if ord(c) < 128)
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    objects = ["<< /Type /Catalog /Pages 2 0 R >>", None, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"]
    kids = []
    for lines in pages:
        content = "BT /F1 10 Tf 50 800 Td " + " ".join(f"({ascii_line(l)}) Tj 0 -12 Td" for l in lines) + " ET"
        objects.append(f"<< /Length {len(content)} >>\nstream\n{content}\nendstream")
        content_ref = len(objects)
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents {content_ref} 0 R >>")
        kids.append(len(objects))
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for o in offsets:
        out += f"{o:010} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def eml(g, paragraphs, attachment):
    subject = "=?UTF-8?B?" + base64.b64encode("[MẬT] Kế hoạch công tác".encode()).decode() + "?="
    body = base64.encodebytes("\n".join(paragraphs).encode()).decode()
    att = base64.encodebytes(attachment).decode()
    return (f"From: {g.email()}\r\nTo: {g.email()}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            f"{body}\r\n--XX\r\nContent-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document; name=\"kh.docx\"\r\n"
            "Content-Disposition: attachment; filename=\"kh.docx\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            f"{att}\r\n--XX--\r\n").encode()


def docs_corpus(root, count):
    g = Gen(SEED + 1)
    r = g.r
    os.makedirs(root, exist_ok=True)
    kinds = ["docx", "xlsx", "pptx", "odt", "pdf", "eml", "zip"]
    total = 0
    per_kind = {}
    for i in range(count):
        kind = kinds[i % len(kinds)]
        paras = [g.prose_paragraph() for _ in range(r.randint(20, 60))]
        if i % 10 == 0:
            g.count("doc_marking")
            paras.insert(0, "TỐI MẬT")
        if kind == "docx":
            data = docx(paras)
        elif kind == "xlsx":
            rows = [[g.name(), g.cccd(), g.mst(), g.phone(), g.email()] for _ in range(r.randint(100, 300))]
            data = xlsx(rows)
        elif kind == "pptx":
            data = pptx([paras[k:k + 4] for k in range(0, len(paras), 4)])
        elif kind == "odt":
            data = odt(paras)
        elif kind == "pdf":
            data = pdf([paras[k:k + 10] for k in range(0, len(paras), 10)])
        elif kind == "eml":
            data = eml(g, paras[: len(paras) // 2], docx(paras[len(paras) // 2:]))
        else:
            data = zip_bytes([("baocao.docx", docx(paras[: len(paras) // 2])),
                              ("ghichu.txt", "\n".join(paras[len(paras) // 2:]))])
        with open(os.path.join(root, f"doc-{i:05d}.{kind}"), "wb") as f:
            f.write(data)
        total += len(data)
        per_kind[kind] = per_kind.get(kind, 0) + 1
    return {"files": count, "bytes": total, "per_kind": per_kind, "planted": g.planted}


def main():
    mode, root, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "text":
        manifest = text_corpus(root, n)
    elif mode == "docs":
        manifest = docs_corpus(root, n)
    else:
        sys.exit(f"unknown mode {mode}")
    with open(os.path.join(root, "..", f"manifest-{mode}.json"), "w") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
    print(json.dumps(manifest, ensure_ascii=False))


if __name__ == "__main__":
    main()
