#!/usr/bin/env python3
"""Writes a store of generated tickets for the search benchmark, directly as mbox files.

    benches/gen_store.py STORE TICKETS MESSAGES [--open-share 0.05]

Mail is realistic MIME: plain 8bit UTF-8, base64 and quoted-printable bodies,
multipart/alternative with an HTML part, HTML-only mail, text attachments, and bodies in
ISO-8859-1, windows-1252, KOI8-R, GB2312 and Shift_JIS, with RFC 2047 subjects. Most
tickets are archived (as in a real desk: 95% by default). Words come from a synthetic
vocabulary with a Zipf-like spread; a few marker words have known counts:

    zebracorn   in the body of 1 message in every 20,000 (base64 or QP encoded)
    quasar      in the body of 1 message in every 500
Deterministic (seeded), so runs compare.
"""
import base64
import os
import quopri
import random
import sys
import time

def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("tickets", type=int)
    ap.add_argument("messages", type=int)
    ap.add_argument("--open-share", type=float, default=0.05)
    a = ap.parse_args()
    root, tickets, messages, share = a.store, a.tickets, a.messages, a.open_share
    rnd = random.Random(11)
    syll = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "si", "pe", "da", "gu", "fi", "zo", "be", "wa"]
    vocab = ["".join(rnd.choice(syll) for _ in range(rnd.randint(2, 4))) for _ in range(6000)]
    common = ("the printer server mail account password invoice error login please help "
              "thanks again today broken update install network backup").split()
    cjk_gb = "打印机坏了请帮忙看看服务器网络密码发票错误登录谢谢"
    cjk_jp = "請求書について届いていませんお世話になっておりますサーバー"
    ru = "принтер сломался пожалуйста помогите сервер пароль"
    weights = [1.0 / (i + 1) for i in range(len(vocab))]

    def words(n):
        w = rnd.choices(vocab, weights=weights, k=n)
        for i in range(0, n, 7):
            w[i] = rnd.choice(common)
        return w

    def text(n):
        w = words(n)
        lines, line = [], []
        for x in w:
            line.append(x)
            if len(line) > 11:
                lines.append(" ".join(line))
                line = []
        lines.append(" ".join(line))
        return "\n".join(lines) + "\n"

    os.makedirs(os.path.join(root, "archived"), exist_ok=True)
    os.makedirs(os.path.join(root, ".mailtix"), exist_ok=True)
    base = 1767225600  # 2026-01-01
    seq = 0
    per = [1] * tickets
    for _ in range(messages - tickets):
        per[rnd.randrange(tickets)] += 1
    open_ids = set(rnd.sample(range(1, tickets + 1), max(1, int(tickets * share))))
    start = time.time()
    for t in range(1, tickets + 1):
        d = root if t in open_ids else os.path.join(root, "archived")
        who = f"{rnd.choice(vocab)}.{rnd.choice(vocab)}{t % 97}@customer{t % 50}.example"
        subj_words = " ".join(words(4))
        out = []
        when = base + t * 200
        for k in range(per[t - 1]):
            seq += 1
            when += rnd.randint(60, 86400)
            frm = who if k % 2 == 0 else "boss@admin.example"
            body = text(rnd.randint(40, 160))
            if seq % 20000 == 0:
                body += "the zebracorn escaped\n"
            if seq % 500 == 0:
                body += "a quasar appeared\n"
            kind = seq % 10
            subject = ("Re: " if k else "") + subj_words
            head = (f"From: {frm.split('@')[0].replace('.', ' ').title()} <{frm}>\n"
                    f"To: support@example.org\n"
                    f"Subject: {subject}\n"
                    f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime(when))}\n"
                    f"Message-ID: <m{seq}@gen.example>\n"
                    f"MIME-Version: 1.0\n")
            if kind == 0:  # base64 utf-8
                b = base64.encodebytes(body.encode()).decode()
                msg = head + "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + b
            elif kind == 1:  # quoted-printable latin-1
                b = body.replace("e", "é", 3)
                qp = quopri.encodestring(b.encode("latin-1")).decode()
                msg = head + "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n" + qp
            elif kind == 2:  # alternative with html
                html = "<html><body><p>" + body.replace("\n", "<br>\n") + "</p></body></html>\n"
                qp = quopri.encodestring(html.encode()).decode()
                msg = (head + 'Content-Type: multipart/alternative; boundary="alt"\n\n--alt\n'
                       "Content-Type: text/plain; charset=utf-8\n\n" + body +
                       "--alt\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" +
                       qp + "--alt--\n")
            elif kind == 3:  # html only
                html = "<html><head><style>p{}</style></head><body><div>" + body.replace("\n", "<br>") + "</div></body></html>\n"
                msg = head + "Content-Type: text/html; charset=utf-8\n\n" + html
            elif kind == 4:  # gb2312, base64, encoded subject
                b = (cjk_gb * 2 + "\n" + body).encode("gb2312", "replace")
                s = "=?gb2312?B?" + base64.b64encode(cjk_gb[:6].encode("gb2312")).decode() + "?="
                msg = (head.replace(f"Subject: {subject}", f"Subject: {s}") +
                       "Content-Type: text/plain; charset=gb2312\nContent-Transfer-Encoding: base64\n\n" +
                       base64.encodebytes(b).decode())
            elif kind == 5:  # shift_jis subject and body
                s = "=?Shift_JIS?B?" + base64.b64encode(cjk_jp[:7].encode("shift_jis")).decode() + "?="
                b = (cjk_jp + "\n" + body).encode("shift_jis", "replace")
                msg = (head.replace(f"Subject: {subject}", f"Subject: {s}") +
                       "Content-Type: text/plain; charset=Shift_JIS\nContent-Transfer-Encoding: base64\n\n" +
                       base64.encodebytes(b).decode())
            elif kind == 6:  # text attachment
                att = base64.encodebytes(text(60).encode()).decode()
                msg = (head + 'Content-Type: multipart/mixed; boundary="mx"\n\n--mx\n'
                       "Content-Type: text/plain; charset=utf-8\n\n" + body +
                       '--mx\nContent-Type: text/plain; name="log.txt"\n'
                       'Content-Disposition: attachment; filename="log.txt"\n'
                       "Content-Transfer-Encoding: base64\n\n" + att + "--mx--\n")
            elif kind == 7:  # koi8-r 8bit
                b = (ru + "\n" + body).encode("koi8-r")
                msg = (head + "Content-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: 8bit\n\n").encode() + b
            elif kind == 8:  # windows-1252 QP
                b = body.replace("a", "’", 2)
                qp = quopri.encodestring(b.encode("cp1252")).decode()
                msg = head + "Content-Type: text/plain; charset=windows-1252\nContent-Transfer-Encoding: quoted-printable\n\n" + qp
            else:  # plain utf-8
                msg = head + "Content-Type: text/plain; charset=utf-8\n\n" + body
            if isinstance(msg, str):
                msg = msg.encode()
            # mboxrd: quote From_ lines; an entry ends with an empty line
            lines = msg.split(b"\n")
            lines = [b">" + l if l.lstrip(b">").startswith(b"From ") else l for l in lines]
            msg = b"\n".join(lines)
            if not msg.endswith(b"\n"):
                msg += b"\n"
            fl = f"From {frm} {time.strftime('%a %b %d %H:%M:%S %Y', time.gmtime(when))}\n".encode()
            out.append(fl + msg + b"\n")
        with open(os.path.join(d, str(t)), "wb") as f:
            f.write(b"".join(out))
        if t % 10000 == 0:
            print(f"gen_store: {t} tickets, {seq} messages, {time.time() - start:.0f} s", file=sys.stderr)
    print(f"gen_store: {tickets} tickets ({len(open_ids)} open), {seq} messages in {root}", file=sys.stderr)


if __name__ == "__main__":
    main()
