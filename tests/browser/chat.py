"""The chat example in a real headless Chromium (Playwright, the system browser).

    python tests/browser/chat.py --chat target/release/examples/chat [--screenshot PATH]

Starts the chat on 127.0.0.1 (a free port), opens tabs that join, talk, send a
1 MiB file and an image, and checks what every tab shows: the same messages in
the same order, the file's bytes intact, who is online, who left. Then it
checks the limits as a tab sees them: a too-large message closes with 1009,
a flood with 1008, a taken name with 1008. Exits non-zero on the first
failure, with what was expected and what the page showed.
"""

import argparse
import hashlib
import os
import random
import re
import subprocess
import sys
import tempfile

from playwright.sync_api import expect, sync_playwright

TIMEOUT_MS = 15_000

# What alice and bob say, in turns, while the test checks the order.
DIALOG = {
    "alice": ["hi bob!", "did the build pass?", "the parser is zero-copy now", "ship it"],
    "bob": ["hey alice", "all green", "nice, and the fuzzers?", "done"],
}


def start_chat(binary):
    chat = subprocess.Popen(
        [binary, "127.0.0.1:0"], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    line = chat.stdout.readline()
    match = re.match(r"chat listening on (http://127\.0\.0\.1:\d+/)", line)
    if not match:
        chat.kill()
        sys.exit(f"chat did not start: {line!r}")
    return chat, match.group(1)


def join(context, url, name):
    page = context.new_page()
    page.goto(url)
    page.fill("#name", name)
    page.press("#name", "Enter")
    expect(page.locator("#status")).to_have_text(f"connected as {name}")
    return page


def say(page, text):
    page.fill("#text", text)
    page.press("#text", "Enter")


def texts(page):
    """Every chat line the page shows, as (from, text)."""
    return page.eval_on_selector_all(
        "#log li.text",
        "lis => lis.map(li => [li.dataset.from, li.querySelector('.body').textContent])",
    )


def online(page):
    return page.eval_on_selector_all("#online li", "lis => lis.map(li => li.textContent)")


def file_digest(page, index):
    """SHA-256 of the file shown as the page's `index`th file entry."""
    return page.evaluate(
        """async (index) => {
            const link = document.querySelectorAll('#log li.file a')[index];
            const bytes = await (await fetch(link.href)).arrayBuffer();
            const digest = await crypto.subtle.digest('SHA-256', bytes);
            return [...new Uint8Array(digest)].map(b => b.toString(16).padStart(2, '0')).join('');
        }""",
        index,
    )


def check(what, got, want):
    if got != want:
        sys.exit(f"FAILED: {what}\n  want: {want!r}\n  got:  {got!r}")
    print(f"ok: {what}")


def expect_closed(page, code, reason_part):
    status = page.locator("#status")
    expect(status).to_have_attribute("data-code", str(code))
    expect(status).to_contain_text(reason_part)
    print(f"ok: the page shows close {code} ({page.locator('#status').text_content()})")


def run(binary, screenshot):
    chat, url = start_chat(binary)
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                tempfile.mkdtemp(prefix="wsock-chromium-"),
                executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                headless=True,
                args=["--no-sandbox"],
                viewport={"width": 960, "height": 640},
            )
            context.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            conversation(context, url, screenshot)
            limits(context, url)
            context.close()
    finally:
        chat.terminate()
        chat.wait(timeout=10)


def conversation(context, url, screenshot):
    alice = join(context, url, "alice")
    bob = join(context, url, "bob")
    carol = join(context, url, "carol")
    tabs = [alice, bob, carol]
    for tab in tabs:
        expect(tab.locator("#online li")).to_have_count(3)
    check("alice sees who is online", online(alice), ["alice", "bob", "carol"])

    # Lines from two tabs at once: every tab shows all of them, in one order,
    # each sender's lines in the order it sent them.
    sent = {"alice": [], "bob": []}
    for i in range(12):
        for name, tab in (("alice", alice), ("bob", bob)):
            line = f"{DIALOG[name][i % len(DIALOG[name])]} ({i + 1})"
            sent[name].append(line)
            say(tab, line)
    special = "<b>not bold</b> & \"quotes\" \\ ünïcödé 😀"
    say(carol, special)
    for tab in tabs:
        expect(tab.locator("#log li.text")).to_have_count(25)
    shown = texts(alice)
    check("bob and carol see what alice sees, in the same order", [texts(bob), texts(carol)], [shown, shown])
    for name, lines in sent.items():
        check(f"{name}'s lines arrive in the order sent", [t for f, t in shown if f == name], lines)
    check("markup is shown as text", shown[-1], ["carol", special])
    check("no markup was rendered", alice.locator("#log b:not(.from)").count(), 0)

    # A 1 MiB file from bob reaches every tab intact.
    data = random.Random(6455).randbytes(1 << 20)
    bob.set_input_files("#file", files=[{"name": "random.bin", "mimeType": "application/octet-stream", "buffer": data}])
    for tab in tabs:
        expect(tab.locator("#log li.file")).to_have_count(1)
        check("the file entry says 1 MiB from bob", tab.eval_on_selector(
            "#log li.file", "li => [li.dataset.from, li.dataset.name, li.dataset.size]"), ["bob", "random.bin", str(1 << 20)])
        check("the 1 MiB file arrived intact", file_digest(tab, 0), hashlib.sha256(data).hexdigest())

    # An image (a picture of carol's tab) from carol is shown inline.
    image = carol.screenshot(clip={"x": 0, "y": 0, "width": 480, "height": 200})
    say(alice, "carol, what does your screen look like?")
    carol.set_input_files("#file", files=[{"name": "my screen.png", "mimeType": "image/png", "buffer": image}])
    say(bob, "nice, thanks!")
    for tab in tabs:
        expect(tab.locator("#log li.file img")).to_have_count(1)
        expect(tab.locator("#log li.text")).to_have_count(27)
    width = alice.eval_on_selector("#log li.file img", "img => img.decode().then(() => img.naturalWidth)")
    check("the image was decoded by the page", width > 0, True)
    if screenshot:
        os.makedirs(os.path.dirname(os.path.abspath(screenshot)), exist_ok=True)
        alice.screenshot(path=screenshot)
        print(f"screenshot: {screenshot}")

    # A tab closes: the others see it leave.
    carol.close()
    for tab in (alice, bob):
        expect(tab.locator("#log li.note").last).to_have_text("carol left.")
        expect(tab.locator("#online li")).to_have_count(2)
    check("carol is no longer online", sorted(online(bob)), ["alice", "bob"])
    for tab in (alice, bob):
        tab.close()


def limits(context, url):
    # A message over the limit (the page's own check bypassed): 1009.
    watcher = join(context, url, "watcher")
    big = join(context, url, "big")
    big.evaluate("chat.socket.send(new Uint8Array(2 * 1024 * 1024))")
    expect_closed(big, 1009, "disconnected: 1009")
    expect(watcher.locator("#log li.note").last).to_contain_text("big left")

    # The page refuses a too-large file itself.
    polite = join(context, url, "polite")
    polite.set_input_files("#file", files=[{"name": "huge.bin", "mimeType": "application/octet-stream", "buffer": bytes(2 << 20)}])
    expect(polite.locator("#log li.note").last).to_contain_text("files may be up to 1.0 MiB")
    check("the page did not send it", watcher.locator("#log li.file").count(), 0)

    # A flood of messages: 1008, and the others are told why.
    flood = join(context, url, "flood")
    flood.evaluate("for (let i = 0; i < 200; i++) chat.socket.send(`spam ${i}`)")
    expect_closed(flood, 1008, "too many messages")
    expect(watcher.locator("#log li.note").last).to_contain_text("flood left (too many messages")
    shown = watcher.locator("#log li.text").count()
    check("the flood was cut off before its end", 0 < shown < 200, True)

    # A name already online: 1008.
    twin = context.new_page()
    twin.goto(url)
    twin.fill("#name", "watcher")
    twin.press("#name", "Enter")
    expect_closed(twin, 1008, "that name is taken")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chat", required=True, help="the chat example's binary")
    parser.add_argument("--screenshot", help="where to save a screenshot of a conversation")
    args = parser.parse_args()
    run(args.chat, args.screenshot)
    print("browser chat: all checks passed")


if __name__ == "__main__":
    main()
