"""keepalived.conf's words and blocks, read as keepalived 2.2's parser (lib/parser.c) reads them.

- `#` and `!` start a comment anywhere outside double quotes, also inside a word (`lb_algo rr#x` is `rr`);
  `\\#` and `\\!` are a plain `#` and `!`.
- `{` and `}` open and close blocks wherever they stand, so one-line blocks (`real_server 10.0.0.1 80 { weight 2 }`)
  read as written.
- Keywords are case-sensitive (keepalived ignores `Virtual_Server` as an unknown keyword).
- A line ending in `\\`, a `$NAME=…` definition and an `@id` conditional line are keepalived features this
  reader does not expand: each is refused with its line (see REFUSED_LINES).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from clusters.interchange.ruleset import Deadline, Problem, Problems

#: How deep blocks may nest: a real keepalived.conf nests 4 (virtual_server › real_server › HTTP_GET › url).
#: Without a limit 1,000,000 “{” built a million-deep tree.
MAX_DEPTH = 16
SPECIAL = re.compile(r'[#!"\\]')
PLAIN_WORDS = re.compile(r"[{}]|[^\s{}]+")


@dataclass
class Node:
    """A keyword with its arguments, and its children when it opens a `{ … }` block."""

    words: list[str]
    line: int
    children: list[Node] | None = None

    @property
    def keyword(self) -> str:
        return self.words[0]

    @property
    def args(self) -> list[str]:
        return self.words[1:]

    def add(self, child: Node) -> None:
        if self.children is None:
            self.children = []
        self.children.append(child)

    def shown(self) -> str:
        """The node's first words, as a message quotes them."""
        return " ".join(self.words[:3]) + (" …" if len(self.words) > 3 else "")


class _TooDeep(Exception):
    """Blocks nest deeper than MAX_DEPTH (the reader stops there)."""


def decomment(line: str) -> tuple[str, bool]:
    """The line without its comment, and whether it ends in a continuation `\\` (keepalived's decomment())."""
    out: list[str] = []
    quoted, index = False, 0
    while index < len(line):
        char = line[index]
        if char == '"':
            quoted = not quoted
        elif char == "\\":
            if index + 1 == len(line):
                return "".join(out).rstrip(), True
            following = line[index + 1]
            if not quoted and following in "#!":
                out.append(following)
            else:
                out.append(char + following)
            index += 2
            continue
        elif not quoted and char in "#!":
            break
        out.append(char)
        index += 1
    return "".join(out).rstrip(), False


@dataclass
class Reader:
    errors: Problems = field(default_factory=Problems)
    deadline: Deadline = field(default_factory=Deadline)

    def tokens(self, text: str):
        for number, raw in enumerate(text.splitlines(), start=1):
            if not number % 256:
                self.deadline.check()
            if not SPECIAL.search(raw):  # the common case: no comment, quote or backslash, read at C speed
                words = PLAIN_WORDS.findall(raw)
                if words and words[0][0] not in "$@":
                    for word in words:
                        yield word, number
                    continue
            line, continued = decomment(raw)
            stripped = line.lstrip()
            if continued:
                self.errors.append(
                    Problem(
                        number,
                        "the line ends in “\\”: keepalived joins lines only inside $NAME definitions; write the "
                        "keyword and its values on one line",
                    )
                )
            elif stripped.startswith("$"):
                self.errors.append(
                    Problem(
                        number,
                        f"“{stripped[:40]}”: keepalived's $NAME definitions are not expanded by the import; "
                        "write the values out",
                    )
                )
            elif stripped.startswith("@"):
                self.errors.append(
                    Problem(
                        number,
                        f"“{stripped[:40]}”: conditional lines (@id) depend on the host keepalived runs on; "
                        "keep the lines of the director you import and remove the @ prefix",
                    )
                )
            else:
                yield from self._words(line, number)

    def _words(self, line: str, number: int):
        if '"' not in line and "\\" not in line:  # the common case, read at C speed
            for word in PLAIN_WORDS.findall(line):
                yield word, number
            return
        word, quoted, has_word = "", False, False
        index = 0
        while index < len(line) + 1:
            char = line[index] if index < len(line) else "\n"
            index += 1
            if quoted:
                if char == '"':
                    quoted = False
                elif char == "\n":
                    self.errors.append(Problem(number, "a quoted string is not closed on its line"))
                else:
                    word += char
                continue
            if char == '"':
                quoted, has_word = True, True
            elif char == "\\" and index < len(line):
                word += line[index]
                has_word = True
                index += 1
            elif char.isspace() or char in "{}":
                if has_word:
                    yield word, number
                    word, has_word = "", False
                if char in "{}":
                    yield char, number
            else:
                word += char
                has_word = True

    def tree(self, text: str) -> list[Node]:
        """The text's keywords as nested nodes; nothing when blocks nest too deep (one error says where)."""
        try:
            return self._tree(text)
        except _TooDeep as exc:
            self.errors.append(Problem(int(str(exc)), f"blocks are nested more than {MAX_DEPTH} deep here"))
            return []

    def _tree(self, text: str) -> list[Node]:
        top: list[Node] = []
        root = Node(["(top)"], 0, top)
        stack = [root]
        words: list[str] = []
        words_line = 0

        def flush():
            nonlocal words
            if words:
                stack[-1].add(Node(words, words_line))
                words = []

        for word, line in self.tokens(text):
            if words and line != words_line:
                flush()
            if word == "{":
                if not words:
                    self.errors.append(Problem(line, "“{” opens a block without a keyword before it"))
                    words, words_line = ["(block)"], line
                if len(stack) > MAX_DEPTH:
                    raise _TooDeep(line)
                block = Node(words, words_line, [])
                stack[-1].add(block)
                stack.append(block)
                words = []
            elif word == "}":
                flush()
                if len(stack) == 1:
                    if len(self.errors) < self.errors.limit:
                        self.errors.append(Problem(line, "“}” closes no block (one “}” too many)"))
                    else:
                        self.errors.omitted += 1  # counted only, without building a message
                else:
                    stack.pop()
            else:
                if not words:
                    words_line = line
                words.append(word)
        flush()
        for block in stack[1:]:
            self.errors.append(Problem(block.line, f"the “{block.keyword}” block opened here is never closed"))
        return top
