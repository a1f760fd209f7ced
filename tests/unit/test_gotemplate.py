"""Go templates for --format (ipy_oci/grammar/gotemplate.py).

Expected outputs come from Go's documentation of text/template, fmt and
text/tabwriter and, where a test says "podman", were recorded from podman 4.3.1
(built with Go 1.19.8):

- ``podman inspect --format T c1`` on a running container created with
  ``--label app=web --label tier=front --label Zed=last -e FOO=bar -e EMPTY=
  --entrypoint '' IMAGE sleep 1000`` (``C1`` below is the part of its inspect
  JSON the templates read), and ``c3``, created with two bind mounts of a
  directory (its path shortened to /tmp/data here).
- ``podman ps -a --format 'table ...'`` on those containers.

podman's error messages carry "Error: inspecting object: printing inspect
output: " in front (the CLI's part); the template part is compared exactly,
except for Go type names, which Python data cannot know (podman says
``*define.InspectContainerConfig`` where we say ``struct``).
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from ipy_oci.errors import UsageError
from ipy_oci.grammar import gotemplate
from ipy_oci.grammar.gotemplate import (
    GoMap,
    TemplateError,
    has_table,
    header_for,
    is_json,
    normalize_format,
    parse_template,
    render,
    render_rows,
    tabwrite,
)

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

C1 = {
    "Name": "c1",
    "Path": "sleep",
    "Args": ["1000"],
    "State": {"Status": "running", "Running": True, "Paused": False, "Pid": 1979,
              "ExitCode": 0, "Error": ""},
    "Config": {
        "Hostname": "8407d7e20416",
        "Env": [PATH, "TERM=xterm", "container=podman", "FOO=bar", "EMPTY=",
                "HOSTNAME=8407d7e20416"],
        "Cmd": ["sleep", "1000"],
        "Labels": {"Zed": "last", "app": "web", "tier": "front"},
        "StopSignal": 15,
        "Tty": False,
    },
    "Mounts": [],
    "RestartCount": 0,
}

C3 = {
    "Name": "c3",
    "Path": "sleep",
    "Args": ["5"],
    "State": {"Status": "created", "Running": False, "Paused": False, "Pid": 0,
              "ExitCode": 0, "Error": ""},
    "Config": {
        "Hostname": "ba45ce7e9a22",
        "Env": ["container=podman", PATH, "TERM=xterm"],
        "Cmd": ["sleep", "5"],
        "Labels": {"app": "db"},
        "StopSignal": 15,
        "Tty": False,
    },
    "Mounts": [
        {"Type": "bind", "Source": "/tmp/data", "Destination": "/more", "Driver": "",
         "Mode": "", "Options": ["rbind"], "RW": True, "Propagation": "rprivate"},
        {"Type": "bind", "Source": "/tmp/data", "Destination": "/data", "Driver": "",
         "Mode": "", "Options": ["rbind"], "RW": False, "Propagation": "rprivate"},
    ],
    "RestartCount": 0,
}


def inspect(template: str, obj: object = C1) -> str:
    """What ``ipy-oci inspect --format TEMPLATE`` prints for one object."""
    return render_rows(template, [obj], name="inspect")


def inspect_error(template: str, obj: object = C1) -> str:
    with pytest.raises(TemplateError) as info:
        inspect(template, obj)
    return str(info.value)


# ---------------------------------------------------------------------------
# podman inspect --format, recorded

PODMAN_INSPECT = [
    ("{{.State.Status}}", "running\n", "created\n"),
    ("{{.Name}} {{.State.Pid}} {{.State.Running}}", "c1 1979 true\n", "c3 0 false\n"),
    ("{{.Config.Labels}}", "map[Zed:last app:web tier:front]\n", "map[app:db]\n"),
    ("{{.Config.Env}}", f"[{PATH} TERM=xterm container=podman FOO=bar EMPTY= "
     "HOSTNAME=8407d7e20416]\n", f"[container=podman {PATH} TERM=xterm]\n"),
    ("{{json .Config.Env}}",
     f'["{PATH}","TERM=xterm","container=podman","FOO=bar","EMPTY=","HOSTNAME=8407d7e20416"]\n',
     f'["container=podman","{PATH}","TERM=xterm"]\n'),
    ("{{json .Config.Labels}}", '{"Zed":"last","app":"web","tier":"front"}\n', '{"app":"db"}\n'),
    ("{{json .Config.Cmd}}", '["sleep","1000"]\n', '["sleep","5"]\n'),
    ("{{json .Mounts}}", "[]\n",
     '[{"Type":"bind","Source":"/tmp/data","Destination":"/more","Driver":"","Mode":"",'
     '"Options":["rbind"],"RW":true,"Propagation":"rprivate"},{"Type":"bind",'
     '"Source":"/tmp/data","Destination":"/data","Driver":"","Mode":"","Options":["rbind"],'
     '"RW":false,"Propagation":"rprivate"}]\n'),
    ("{{range .Mounts}}{{.Destination}} {{end}}", "\n", "/more /data \n"),
    ("{{range .Mounts}}{{.Source}}:{{.Destination}}:{{.RW}} {{end}}", "\n",
     "/tmp/data:/more:true /tmp/data:/data:false \n"),
    # The shell passes {{"\n"}} as backslash-n: podman's \n replacement breaks the
    # string, so podman parses the text as given (and appends no newline).
    ('{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{"\\n"}}{{end}}',
     "Zed=last\napp=web\ntier=front\n", "app=db\n"),
    ("{{if .State.Running}}up{{else}}down{{end}}", "up\n", "down\n"),
    ("{{with .Config.Labels.app}}app={{.}}{{else}}none{{end}}", "app=web\n", "app=db\n"),
    ('{{printf "%s-%d" .Name .State.Pid}}', "c1-1979\n", "c3-0\n"),
    ("{{len .Args}} {{len .Config.Labels}}", "1 3\n", "1 1\n"),
    ('{{index .Config.Labels "app"}}|{{index .Config.Labels "nope"}}|{{.Config.Labels.nope}}',
     "web||<no value>\n", "db||<no value>\n"),
    ('{{.Name | upper}} {{title .Path}} {{join .Config.Cmd ","}} '
     '{{truncate .Config.Hostname 4}}', "C1 Sleep sleep,1000 8407\n", "C3 Sleep sleep,5 ba45\n"),
    ('{{range .Config.Env}}{{if eq . "TERM=xterm"}}{{continue}}{{end}}'
     '{{if eq . "EMPTY="}}{{break}}{{end}}{{.}};{{end}}',
     f"{PATH};container=podman;FOO=bar;\n", f"container=podman;{PATH};\n"),
    ('{{.State.Pid | printf "%d" | len}}', "4\n", "1\n"),
]


@pytest.mark.parametrize(("template", "c1", "c3"), PODMAN_INSPECT)
def test_podman_inspect_outputs(template: str, c1: str, c3: str) -> None:
    assert inspect(template, C1) == c1
    assert inspect(template, C3) == c3


def test_podman_inspect_several_objects_one_line_each() -> None:
    assert render_rows("{{.Name}}={{.State.Status}}", [C1, C3]) == "c1=running\nc3=created\n"


# ---------------------------------------------------------------------------
# Go's fmt through printf, print and println (podman)

PODMAN_FMT = [
    ('{{printf "%v|%v|%v|%v|%v" 1e6 1.5 100000.0 1e21 123456789.0}}',
     "1e+06|1.5|100000|1e+21|1.23456789e+08\n"),
    ('{{printf "%v|%v|%v|%v|%v|%v" 0.0001 0.00001 1e20 1234567.0 0.1 123456.7}}',
     "0.0001|1e-05|1e+20|1.234567e+06|0.1|123456.7\n"),
    ('{{printf "%d %5d|%-5d|%05d %x %X %o %b %c %q %U" 42 42 42 42 255 255 8 5 65 65 65}}',
     "42    42|42   |00042 ff FF 10 101 A 'A' U+0041\n"),
    ('{{printf "%s|%10s|%-10s|%.2s|%q|%x|% x|%#x" "hello" "hi" "hi" "hello" "a\\"b" "hi" "hi" '
     '"hi"}}', 'hello|        hi|hi        |he|"a\\"b"|6869|68 69|0x6869\n'),
    ('{{printf "%5.2f|%e|%g|%.3g|%+d|% d|%+.1e" 3.14159 1234.5678 0.000012 1234567.0 5 5 '
     '12345.678}}', " 3.14|1.234568e+03|1.2e-05|1.23e+06|+5| 5|+1.2e+04\n"),
    ('{{printf "%x|%X|%#o|%O|%#b|%08.3f|%8.3e|%x" -255 -255 8 8 5 3.14159 123456.789 3.5}}',
     "-ff|-FF|010|0o10|0b101|0003.142|1.235e+05|0x1.cp+01\n"),
    ('{{printf "%.0d|%.3d|%6.3d|%+.3d|%#x|%#08x|%x" 0 5 5 5 0 255 "héllo"}}',
     "|005|   005|+005|0x0|0x000000ff|68c3a96c6c6f\n"),
    ('{{printf "%q|%+q|%#q|%q|%q" "tab\\there" "日本" "back`tick" 0x1F600 10}}',
     "\"tab\\there\"|\"\\u65e5\\u672c\"|\"back`tick\"|'😀'|'\\n'\n"),
    ('{{printf "%c|%c|%U|%#U" 0x65E5 128512 0x1F600 0x1F600}}', "日|😀|U+1F600|U+1F600 '😀'\n"),
    ('{{printf "%[2]s %[1]s" "a" "b"}} {{printf "%[3]d" 1}} '
     '{{printf "%*d|%-*d|%.*f" 5 1 5 2 2 3.14159}}', "b a %!d(BADINDEX)     1|2    |3.14\n"),
    ('{{printf "%!"}} {{printf "%"}} {{printf "100%%"}} {{printf "%d %s" 1}}',
     "%!!(MISSING) %!(NOVERB) 100% 1 %!s(MISSING)\n"),
    ('{{printf "%d" "x"}} {{printf "%s" 5}} {{printf "%d" 1 2}} {{printf "%z" 1}} '
     '{{printf "%s" nil}} {{printf "%d" nil}}',
     "%!d(string=x) %!s(int=5) 1%!(EXTRA int=2) %!z(int=1) %!s(<nil>) %!d(<nil>)\n"),
    ('{{printf "%g|%G|%e|%E|%.2e|%10.4g|%-10.2f|%+.0f|%#.0f|%#g" 1e-7 1e-7 0.0 1e100 -0.0 '
     '3.14159265 2.5 2.5 2.5 1.0}}',
     "1e-07|1E-07|0.000000e+00|1.000000E+100|-0.00e+00|     3.142|2.50      |+2|2.|1.00000\n"),
    ('{{printf "%f|%.1f|%.0f|%.0f|%.0f" 1e20 0.05 0.5 1.5 2.5}}',
     "100000000000000000000.000000|0.1|0|2|2\n"),
    ('{{printf "%05s|%-05d|%+q|%#q|%#v|%T|%T|%T|%T" "ab" 3 "é" "ab" "x" 1 "s" 1.5 nil}}',
     '000ab|3    |"\\u00e9"|`ab`|"x"|int|string|float64|<nil>\n'),
    ('{{printf "%6.2s|%-6.2s|%06d|%-06d|%+06d|% 06d" "abc" "abc" -42 -42 42 42}}',
     "    ab|ab    |-00042|-42   |+00042| 00042\n"),
    ('{{printf "%v %v" .Config.Labels .Config.Cmd}} '
     '{{printf "%5v|%q|%d" .Config.Cmd .Config.Cmd .Config.Cmd}}',
     'map[Zed:last app:web tier:front] [sleep 1000] [sleep  1000]|["sleep" "1000"]|'
     "[%!d(string=sleep) %!d(string=1000)]\n"),
    ("{{printf \"%t %v %v %v\" true false nil 'a'}}", "true false <nil> 97\n"),
    ('{{print 1 2 "a" 3 "b" "c"}} {{println 1 "a"}}|{{print nil 1}}|{{print}}|',
     "1 2a3bc 1 a\n|<nil> 1||\n"),
    ('{{printf "%T %T" .Config.Cmd .Config.Labels}}', "[]string map[string]string\n"),
]


@pytest.mark.parametrize(("template", "expected"), PODMAN_FMT)
def test_podman_printf(template: str, expected: str) -> None:
    assert inspect(template) == expected


# ---------------------------------------------------------------------------
# Literals, functions, trimming (podman)

PODMAN_MISC = [
    ('{{"str"}} {{`raw\\n`}} {{123}} {{-5}} {{1.5}} {{true}} {{\'a\'}} {{0x1F}} {{1e3}} '
     '{{0o17}} {{017}} {{1_000}} {{0b101}} {{\'\\n\'}} {{"\\u00e9\\x41\\101"}}',
     "str raw\\n 123 -5 1.5 true 97 31 1000 15 15 1000 5 10 éAA"),
    ('{{- "a" -}}   {{ "b" -}}', "ab"),
    ("  c {{- /* x */ -}} d", "  cd\n"),
    ("{{-3}} {{- 3}} {{3 -}} .", "-33 3.\n"),
    ('{{and 1 0 2}} {{or 0 "" "x"}} {{and 1 2}} {{or 0 ""}} {{not 0}} {{not "a"}} '
     "{{and .Config.Labels.nope (index .Config.Cmd 99)}} {{or 1 (index .Config.Cmd 99)}}",
     "0 x 2  true false <no value> 1\n"),
    ('{{eq .Name "x" "y" "c1"}} {{ne 1 2}} {{lt "a" "b"}} {{le 2 2}} {{gt 1.5 2.5}} '
     '{{ge "b" "a"}} {{eq nil nil}} {{eq .Name nil}}',
     "true true true true false true true false\n"),
    ('{{slice .Config.Cmd 1}} {{slice .Config.Cmd}} {{slice "héllo" 1 3}} {{index "abc" 1}} '
     '{{len "héllo"}}', "[1000] [sleep 1000] é 98 6\n"),
    ('{{split "a,b,c" ","}} {{split "abc" ""}} {{len (split "" ",")}} {{pad "x" 2 3}}|'
     '{{pad "" 2 3}}|{{truncate "abcdef" 3}}|{{truncate "ab" 3}}',
     "[a b c] [a b c] 1   x   ||abc|ab\n"),
    ('{{title "hello world-foo bar_baz o\'neil"}} {{upper "straße"}} {{lower "ÀB"}} '
     '{{lower "İ"}} {{title "élan vital"}}',
     "Hello World-Foo Bar_baz O'Neil STRAßE àb i Élan Vital\n"),
    ("{{html \"<a href='x'>&\\\"</a>\"}} {{js \"a'b\\\"c<d>&=\\\\\"}} {{urlquery \"a b&c=d/é\"}}",
     "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt; a\\'b\\\"c\\u003Cd\\u003E\\u0026\\u003D\\\\ "
     "a+b%26c%3Dd%2F%C3%A9\n"),
    ('{{json "a\\tb\\u2028\\x01é<>&"}} {{json 12}} {{json -1.5e-8}} {{json 3.0}} {{json 1e21}} '
     "{{json 1000000.0}} {{json true}} {{json nil}}",
     '"a\\tb\\u2028\\u0001é<>&" 12 -1.5e-8 3 1e+21 1000000 true null\n'),
    ('{{$x := "a"}}{{if true}}{{$x = "b"}}{{$y := "c"}}{{end}}{{$x}}', "b\n"),
    ("{{with $x := .Name}}{{$x}}{{.}}{{end}} {{$n := .Name}}{{range .Config.Cmd}}{{$n}}{{end}}",
     "c1c1 c1c1\n"),
    ('{{if eq .Name "a"}}A{{else if eq .Name "b"}}B{{else if eq .Name "c1"}}C{{else}}D{{end}}',
     "C\n"),
    ("{{.Name | not}}", "false\n"),
    # podman wraps the template in {{range .}}...{{end -}}: these are legal there.
    ("{{break}}", ""),
    ("{{range .Config.Cmd}}{{else}}{{continue}}{{end}}", "\n"),
]


@pytest.mark.parametrize(("template", "expected"), PODMAN_MISC)
def test_podman_literals_functions_trimming(template: str, expected: str) -> None:
    assert inspect(template) == expected


# ---------------------------------------------------------------------------
# Errors (podman): exact messages; never anything but TemplateError

PODMAN_PARSE_ERRORS = [
    ("{{nosuch}}", 'template: inspect:1: function "nosuch" not defined'),
    ("{{if .Name}}x", "template: inspect:1: unexpected EOF"),
    ("{{end}}", "template: inspect:1: unexpected {{end}}"),
    ("{{$nope}}", 'template: inspect:1: undefined variable "$nope"'),
    ("{{(1}}", "template: inspect:1: unclosed left paren"),
    ("{{1)}}", 'template: inspect:1: unexpected ")" in command'),
    ('{{"abc}}', "template: inspect:1: unterminated quoted string"),
    ("{{.Name | 3}}", "template: inspect:1: non executable command in pipeline stage 2"),
    ("{{|}}", 'template: inspect:1: unexpected "|" in command'),
    ("{{}}", "template: inspect:1: missing value for command"),
    ("{{range $a, $b, $c := .Config.Cmd}}{{end}}",
     "template: inspect:1: too many declarations in range"),
    ("{{$a, $b := .Config.Cmd}}", "template: inspect:1: too many declarations in command"),
    ("{{.Name.}}", "template: inspect:1: unexpected <.> in operand"),
    ("{{0x}} {{1.2.3}}", 'template: inspect:1: illegal number syntax: "0x"'),
    ("{{'ab'}}", "template: inspect:1: malformed character constant: 'ab'"),
    ('{{"\\z"}}', "template: inspect:1: invalid syntax"),
    ("{{1e400}}", 'template: inspect:1: illegal number syntax: "1e400"'),
    ("{{/* unclosed", "template: inspect:1: unclosed comment"),
    ("{{/* x */ }}", "template: inspect:1: comment ends before closing delimiter"),
    ("{{ /* x */ }}", 'template: inspect:1: unexpected "/" in command'),
    ("{{.Name -}", 'template: inspect:1: illegal number syntax: "-"'),
    ("{{.Name", "template: inspect:1: bad character U+007B '{'"),
    ("{{with .Name}}{{else if .Name}}{{end}}", "template: inspect:1: unexpected <if> in input"),
    ("{{end x}}", 'template: inspect:1: unexpected "x" in end'),
    ("{{nil.Foo}}", 'template: inspect:1: unexpected . after term "nil"'),
]


@pytest.mark.parametrize(("template", "message"), PODMAN_PARSE_ERRORS)
def test_podman_parse_errors(template: str, message: str) -> None:
    assert inspect_error(template) == message


def _exec_error(col: int, at: str, msg: str) -> str:
    return f'template: inspect:1:{col}: executing "inspect" at <{at}>: {msg}'


PODMAN_EXEC_ERRORS = [
    ("{{range .Name}}{{end}}", _exec_error(19, ".Name", "range can't iterate over c1")),
    ("{{eq .Name 1}}",
     _exec_error(13, "eq .Name 1", "error calling eq: incompatible types for comparison")),
    ("{{lt true false}}",
     _exec_error(13, "lt true false", "error calling lt: invalid type for comparison")),
    ("{{eq .Config.Cmd .Config.Cmd}}",
     _exec_error(13, "eq .Config.Cmd .Config.Cmd",
                 "error calling eq: non-comparable type [sleep 1000]: []string")),
    ('{{truncate .Name "2"}}', _exec_error(28, '"2"', 'expected integer; found "2"')),
    ('{{join .Name ","}}',
     _exec_error(18, ".Name", "wrong type for value; expected []string; got string")),
    ("{{upper 5}}", _exec_error(19, "5", "expected string; found 5")),
    ("{{printf}}",
     _exec_error(13, "printf", "wrong number of args for printf: want at least 1 got 0")),
    ("{{not 1 2}}", _exec_error(13, "not", "wrong number of args for not: want 1 got 2")),
    ("{{len 3}}", _exec_error(13, "len 3", "error calling len: len of type int")),
    ("{{index .Config.Cmd 99}}",
     _exec_error(13, "index .Config.Cmd 99", "error calling index: index out of range: 99")),
    ("{{index .Config.Labels 1}}",
     _exec_error(13, "index .Config.Labels 1",
                 "error calling index: value has type int; should be string")),
    ("{{.Name .Name}}",
     _exec_error(13, ".Name", "Name has arguments but cannot be invoked as function")),
    ('{{"x" | .Name}}',
     _exec_error(19, ".Name", "Name has arguments but cannot be invoked as function")),
    ("{{nil}}", _exec_error(13, "nil", "nil is not a command")),
    ('{{printf "%d" 9223372036854775808}}',
     _exec_error(25, "9223372036854775808", "9223372036854775808 overflows int")),
    ("{{.Config.Labels.app.Foo}}",
     _exec_error(20, ".Config.Labels.app.Foo", "can't evaluate field Foo in type string")),
    ("{{slice .Config.Cmd 2 1}}",
     _exec_error(13, "slice .Config.Cmd 2 1", "error calling slice: invalid slice index: 2 > 1")),
]


@pytest.mark.parametrize(("template", "message"), PODMAN_EXEC_ERRORS)
def test_podman_exec_errors(template: str, message: str) -> None:
    assert inspect_error(template) == message


def test_unknown_field_of_a_struct_is_an_error_in_podmans_words() -> None:
    # podman: ... at <.Config.Nope>: can't evaluate field Nope in type *define.Inspect...
    msg = inspect_error("{{range .Config.Nope}}{{end}}")
    assert msg.startswith('template: inspect:1:26: executing "inspect" at <.Config.Nope>: ')
    assert "can't evaluate field Nope in type" in msg
    assert "can't evaluate field Foo" in inspect_error("{{.Foo}}")
    with pytest.raises(TemplateError, match=r"template: x:1:17: executing \"x\" at <.State.Foo>: "
                                            r"can't evaluate field Foo in type struct"):
        render("{{.Name}}{{.State.Foo}}", C1, name="x")


def test_template_error_is_a_usage_error_with_exit_code_125() -> None:
    with pytest.raises(UsageError) as info:
        render("{{", {})
    assert isinstance(info.value, TemplateError)
    assert info.value.exit_code == 125


def test_unsupported_actions_say_so() -> None:
    for text in ('{{define "x"}}y{{end}}', '{{template "x"}}', '{{block "x" .}}y{{end}}'):
        with pytest.raises(TemplateError, match="is not supported"):
            render(text, {})


def test_errors_name_the_template_and_line() -> None:
    with pytest.raises(TemplateError, match=r"^template: ps:2: unclosed action$"):
        render("ok\n{{.A", {}, name="ps")
    with pytest.raises(TemplateError,
                       match=r"^template: ps:2: unclosed action started at ps:1$"):
        render("{{.A\n", {}, name="ps")
    with pytest.raises(TemplateError, match=r"^template: ps:3:4: executing \"ps\" at <\.B>"):
        render("a\nb\nc {{.B}}", {"A": 1}, name="ps")


def test_no_template_raises_anything_but_template_error() -> None:
    frags = ["{{", "}}", "{{- ", " -}}", " ", ".A", ".B.C", "$", "$x", ":=", "=", "|", "(", ")",
             '"s"', "`r`", "'c'", "1", "-2", "1.5", "0x1F", "if", "else", "end", "range", "with",
             "break", "continue", "nil", "true", "printf", '"%d %s %v %5.2f %q %x %[2]*.*f %T"',
             "len", "index", "slice", "eq", "lt", "and", "or", "not", "json", "upper", "join",
             "split", "truncate", "pad", "title", "print", "html", "js", "urlquery", "call", ",",
             "/*", "*/", "\n", "\\n", "x", "table ", "}", "{", ".", "$.A", ".Labels", ".E"]
    data = {"A": [1, "two", None, 3.5, {"k": "v"}, -7, 1e300, float("nan")],
            "B": {"C": "c", "D": [True]}, "E": None, "Labels": {"a": "1"}}
    rng = random.Random(13)
    for _ in range(4000):
        text = "".join(rng.choice(frags) for _ in range(rng.randint(1, 14)))
        for rows in (False, True):
            try:
                if rows:
                    render_rows(text, [data, data], name="f")
                else:
                    render(text, data, "f")
            except TemplateError as e:
                # a wrapped Python exception would have no position
                assert not str(e).startswith('template: f: executing "f": '), (text, e)


# ---------------------------------------------------------------------------
# Semantics on Python data (Go's documentation)


def test_fields_keys_and_attributes() -> None:
    @dataclasses.dataclass
    class Port:
        Host: int
        Proto: str = "tcp"

    class Box:
        def __init__(self) -> None:
            self.Name = "box"
            self.Ports = [Port(80), Port(53, "udp")]
            self._secret = 1

        def Method(self) -> str:  # noqa: N802 - a Go-style name
            return "m"

    box = Box()
    assert render("{{.Name}}:{{range .Ports}}{{.Host}}/{{.Proto}} {{end}}", box) == \
        "box:80/tcp 53/udp "
    assert render("{{index .Ports 1}}", box) == "{53 udp}"
    assert render("{{printf \"%+v\" (index .Ports 0)}}", box) == "{Host:80 Proto:tcp}"
    assert render("{{json .Ports}}", box) == '[{"Host":80,"Proto":"tcp"},{"Host":53,"Proto":"udp"}]'
    with pytest.raises(TemplateError, match="method calls are not supported"):
        render("{{.Method}}", box)
    with pytest.raises(TemplateError, match="can't evaluate field _secret in type Box"):
        render("{{._secret}}", box)
    with pytest.raises(TemplateError, match="can't evaluate field Nope in type Box"):
        render("{{.Nope}}", box)


def test_structs_and_maps() -> None:
    data = {"A": {"B": "x"}, "Labels": {"k": "v"}, "M": GoMap(z=1)}
    assert render("{{.A.B}}", data) == "x"
    with pytest.raises(TemplateError, match="can't evaluate field C in type struct"):
        render("{{.A.C}}", data)
    # Maps: a missing key is Go's <no value>, and so is anything below it.
    assert render("{{.Labels.nope}}|{{.M.y}}|{{.M.y.z}}|{{.M.z}}", data) == \
        "<no value>|<no value>|<no value>|1"
    assert render("{{.nope}}", GoMap()) == "<no value>"
    assert render("{{if .Labels.nope}}y{{else}}n{{end}}", data) == "n"
    # index reads any dict; a missing key gives the zero value of the element type.
    assert render('{{index . "A"}} {{index .Labels "nope"}}|{{index .M "nope"}}', data) == \
        "map[B:x] |<no value>"
    assert render("{{index .A.B 0}}", data) == "120"
    # nil: a field of nil is an error, as for a nil interface{} in Go.
    with pytest.raises(TemplateError, match=r"nil pointer evaluating interface \{\}\.B"):
        render("{{.A.B}}", {"A": None})


def test_default_printing_follows_go() -> None:
    assert render("{{.}}", ["a", "b", 1, 2.5, True, None]) == "[a b 1 2.5 true <nil>]"
    assert render("{{.}}", {"b": 2, "a": [1], "c": {"d": None}}) == "map[a:[1] b:2 c:map[d:<nil>]]"
    assert render("{{.}}|{{.}}", None) == "<no value>|<no value>"
    assert render("{{.A}}", {"A": None}) == "<no value>"
    assert render("{{.}}", []) == "[]"
    assert render("{{.}}", {}) == "map[]"
    assert render("{{.T}} {{.F}}", {"T": True, "F": False}) == "true false"
    floats = [1e6, 100000.0, 1e21, 123456789.0, 0.1, 1e-05, 0.0001, -0.0, 3.0, 2.5e-7,
              float("inf"), float("-inf"), float("nan")]
    assert render("{{range .}}{{.}} {{end}}", floats) == \
        "1e+06 100000 1e+21 1.23456789e+08 0.1 1e-05 0.0001 -0 3 2.5e-07 +Inf -Inf NaN "
    assert render("{{.}}", 10**20) == "100000000000000000000"


def test_truthiness() -> None:
    falsy = ["", [], {}, 0, 0.0, False, None]
    truthy = ["x", [0], {"a": 0}, 1, -0.5, True, object()]
    for v in falsy:
        assert render("{{if .}}T{{else}}F{{end}}", v) == "F", v
    for v in truthy:
        assert render("{{if .}}T{{else}}F{{end}}", v) == "T", v
    assert render("{{if .Missing}}T{{else}}F{{end}}", GoMap()) == "F"


def test_range() -> None:
    assert render("{{range .}}<{{.}}>{{end}}", ["a", "b"]) == "<a><b>"
    assert render("{{range $i, $e := .}}{{$i}}={{$e}} {{end}}", ["a", "b"]) == "0=a 1=b "
    assert render("{{range $e := .}}{{$e}}{{end}}", ["a", "b"]) == "ab"
    # maps: sorted key order, whatever the dict's order
    assert render("{{range $k, $v := .}}{{$k}}:{{$v}} {{end}}", {"b": 1, "a": 2, "B": 3}) == \
        "B:3 a:2 b:1 "
    assert render("{{range $k, $v := .}}{{$k}}{{end}}", {2: "x", 10: "y", 1: "z"}) == "1210"
    assert render("{{range .}}x{{else}}empty{{end}}", []) == "empty"
    assert render("{{range .}}x{{else}}empty{{end}}", {}) == "empty"
    assert render("{{range .}}x{{else}}nil{{end}}", None) == "nil"
    assert render("{{range .A}}x{{else}}{{.B}}{{end}}", {"A": [], "B": "dot kept"}) == "dot kept"
    # break and continue act on the innermost range
    text = "{{range .}}{{range .}}{{if eq . 2}}{{break}}{{end}}{{.}}{{end}};{{end}}"
    assert render(text, [[1, 2, 3], [4, 2]]) == "1;4;"
    text = "{{range .}}{{if eq . 2}}{{continue}}{{end}}{{.}}{{end}}"
    assert render(text, [1, 2, 3]) == "13"
    # $ is the data; variables of the body do not outlive an iteration
    assert render("{{range .L}}{{$.N}}{{.}}{{end}}", {"L": [1, 2], "N": "n"}) == "n1n2"
    with pytest.raises(TemplateError, match="range can't iterate over 5"):
        render("{{range .}}{{end}}", 5)
    with pytest.raises(TemplateError, match=r"\{\{break\}\} outside \{\{range\}\}"):
        render("{{break}}", [])


def test_if_with_else() -> None:
    text = "{{if eq . 1}}one{{else if eq . 2}}two{{else}}many{{end}}"
    assert [render(text, n) for n in (1, 2, 3)] == ["one", "two", "many"]
    assert render("{{with .A}}<{{.}}>{{end}}", {"A": "x"}) == "<x>"
    assert render("{{with .A}}<{{.}}>{{else}}none:{{.B}}{{end}}", {"A": "", "B": 1}) == "none:1"
    assert render("{{with $x := .A}}{{$x}}{{end}}", {"A": "v"}) == "v"


def test_variables() -> None:
    assert render("{{$x := .}}{{$x}}{{$x = 2}}{{$x}}", 1) == "12"
    assert render("{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}", None) == "21"
    assert render("{{$}}", "root") == "root"
    assert render("{{$x := .}}{{$x.A.B}}", {"A": {"B": "deep"}}) == "deep"
    with pytest.raises(TemplateError, match='undefined variable "\\$y"'):
        render("{{if true}}{{$y := 1}}{{end}}{{$y}}", None)


def test_pipelines_parentheses_and_chains() -> None:
    data = {"Name": "web", "L": [{"N": "first"}, {"N": "second"}]}
    assert render("{{.Name | upper}}", data) == "WEB"
    assert render('{{"a" | printf "%s-%s" "b"}}', data) == "b-a"  # piped value is the last arg
    assert render('{{"put" | printf "%s%s" "out" | printf "%q"}}', data) == '"output"'
    assert render('{{printf "%q" (print "out" "put")}}', data) == '"output"'
    assert render("{{(index .L 1).N}}", data) == "second"
    assert render("{{.L | len | printf \"%d items\"}}", data) == "2 items"
    assert render("{{len .L | eq 2}}", data) == "true"


def test_and_or_short_circuit() -> None:
    assert render("{{and .A (index .L 9)}}", {"A": 0, "L": []}) == "0"
    assert render("{{or .A (index .L 9)}}", {"A": "x", "L": []}) == "x"
    with pytest.raises(TemplateError, match="index out of range: 9"):
        render("{{and .A (index .L 9)}}", {"A": 1, "L": []})


def test_comparisons() -> None:
    assert render("{{eq 1 2 3 1}} {{eq .A .B}} {{ne .A .B}}", {"A": "x", "B": "y"}) == \
        "true false true"
    assert render("{{lt 1 2}} {{le 2 2}} {{gt 2.5 1.5}} {{ge \"a\" \"b\"}}", None) == \
        "true true true false"
    assert render("{{eq .A nil}} {{eq .M.nope \"\"}}", {"A": None, "M": GoMap()}) == "true false"
    for text in ("{{eq 1 1.0}}", "{{lt 1 \"a\"}}", "{{eq true 1}}"):
        with pytest.raises(TemplateError, match="incompatible types for comparison"):
            render(text, None)
    with pytest.raises(TemplateError, match="missing argument for comparison"):
        render("{{eq 1}}", None)


def test_whitespace_trimming_and_comments() -> None:
    assert render("a  {{- .}}  b", "X") == "aX  b"
    assert render("a  {{.  -}}  b", "X") == "a  Xb"
    assert render("a \n\t {{- . -}} \n\t b", "X") == "aXb"
    assert render("{{- /* comment */ -}}", None) == ""
    assert render("a {{/* multi\nline */}} b", None) == "a  b"
    assert render("{{-3}}|{{- 3}}", None) == "-3|3"
    assert render("{{\n  .\n}}", "multi-line action") == "multi-line action"


def test_literals() -> None:
    assert render(r'{{"a\tb\n\"q\" \u00e9\x41\101"}}', None) == 'a\tb\n"q" éAA'
    assert render(r"{{`raw \n {{ }}`}}", None) == r"raw \n {{ }}"
    assert render("{{'x'}} {{'\\n'}} {{0x1F}} {{0o17}} {{017}} {{0b101}} {{1_000}}", None) == \
        "120 10 31 15 15 5 1000"
    assert render("{{1.5}} {{1e3}} {{-2}} {{+3}} {{.5}} {{0x1p-2}}", None) == \
        "1.5 1000 -2 3 0.5 0.25"
    assert render("{{true}} {{false}} {{printf \"%v\" nil}}", None) == "true false <nil>"
    # a literal number fits a typed parameter when Go's constant rules allow it
    assert render("{{truncate . 2.0}}", "abc") == "ab"
    with pytest.raises(TemplateError, match="expected integer; found 2.5"):
        render("{{truncate . 2.5}}", "abc")


def test_len_index_slice() -> None:
    data = {"S": "héllo", "L": [1, 2, 3], "M": {"a": "b"}, "N": [[1, 2], [3, 4]]}
    assert render("{{len .S}} {{len .L}} {{len .M}}", data) == "6 3 1"
    assert render("{{index .N 1 0}} {{index .M \"a\"}} {{index .S 0}}", data) == "3 b 104"
    assert render("{{slice .L 1}} {{slice .L 1 2}} {{slice .L 0 1 2}} {{slice .S 0 1}}", data) == \
        "[2 3] [2] [1] h"
    with pytest.raises(TemplateError, match="error calling len: len of nil pointer"):
        render("{{len .}}", None)
    with pytest.raises(TemplateError, match="can't index item of type int"):
        render("{{index . 0}}", 5)
    with pytest.raises(TemplateError, match="cannot 3-index slice a string"):
        render("{{slice .S 0 1 2}}", data)


def test_podman_functions() -> None:
    assert render('{{join . ", "}}', ["a", "b"]) == "a, b"
    assert render('{{split . ":"}}', "a:b::c") == "[a b  c]"
    assert render('{{range split . ","}}<{{.}}>{{end}}', "x,y") == "<x><y>"
    assert render("{{truncate . 12}}", "8407d7e2041667b28e6b") == "8407d7e20416"
    assert render("{{upper .}} {{lower .}} {{title .}}", "hello World") == \
        "HELLO WORLD hello world Hello World"
    assert render("[{{pad . 1 2}}]", "x") == "[ x  ]"
    with pytest.raises(TemplateError, match=r"expected \[\]string; got \[\]interface \{\}"):
        render('{{join . ","}}', ["a", 1])


def test_json_is_compact_like_go() -> None:
    # struct dicts keep their field order; maps (Labels ..., GoMap) sort their keys
    data = {"Name": "x", "Id": 1, "Labels": {"z": "1", "a": "2"}, "Opt": GoMap(b=1, a=2),
            "F": [1.0, 0.5, 1e-7, 1e21, 12345678.0], "N": None, "T": True, "E": [],
            "S": "<tag> & \"q\"\n\u2028"}
    assert render("{{json .}}", data) == (
        '{"Name":"x","Id":1,"Labels":{"a":"2","z":"1"},"Opt":{"a":2,"b":1},'
        '"F":[1,0.5,1e-7,1e+21,12345678],"N":null,"T":true,"E":[],'
        '"S":"<tag> & \\"q\\"\\n\\u2028"}')
    assert render("{{json .}}", float("nan")) == ""  # podman ignores the encoder's error


def test_html_js_urlquery_call() -> None:
    assert render("{{html .}}", "<b>&'\"") == "&lt;b&gt;&amp;&#39;&#34;"
    assert render("{{html .A}}", GoMap()) == "&lt;no value&gt;"
    assert render("{{js .}}", "'\"<>&=\\\x01é") == "\\'\\\"\\u003C\\u003E\\u0026\\u003D\\\\\\u0001é"
    assert render("{{urlquery . \"x\"}}", "a b") == "a+bx"
    assert render("{{call .F 2 3}}", {"F": lambda a, b: a * b}) == "6"
    with pytest.raises(TemplateError, match="error calling call: non-function of type int"):
        render("{{call .F}}", {"F": 1})


def test_printf_more() -> None:
    assert render('{{printf "%s=%d" .Name .Pid}}', {"Name": "c", "Pid": 7}) == "c=7"
    assert render('{{printf "%v|%s|%q" . . .}}', ["a", "b"]) == '[a b]|[a b]|["a" "b"]'
    assert render('{{printf "%v" .}}', {"k": [1, 2], "j": None}) == "map[j:<nil> k:[1 2]]"
    assert render('{{printf "%#v" .}}', ["a", 1]) == '[]interface {}{"a", 1}'
    assert render('{{printf "%x %X %o %b" . . . .}}', 255) == "ff FF 377 11111111"
    assert render('{{printf "%8.3f|%-8.2e|%+g" . . .}}', 3.14159) == "   3.142|3.14e+00|+3.14159"
    assert render('{{printf "%d%%" .}}', 50) == "50%"
    assert render('{{printf "%t" .}}', True) == "true"
    assert render('{{printf "%s" .}}', True) == "%!s(bool=true)"


# ---------------------------------------------------------------------------
# podman's report package: tables, headers, normalization

PS_ROWS = [
    {"Image": "localhost/bb:latest", "State": "Up 5 minutes ago", "Pid": 1979, "ExitCode": 0,
     "AutoRemove": False, "ExitedAt": -62135596800, "Names": "c1", "ID": "8407d7e20416",
     "Labels": {"Zed": "last", "app": "web", "tier": "front"}},
    {"Image": "localhost/bb:latest", "State": "Created", "Pid": 0, "ExitCode": 0,
     "AutoRemove": False, "ExitedAt": -62135596800, "Names": "a-much-longer-container-name",
     "ID": "86721a0c7678", "Labels": {}},
]

PODMAN_PS = [
    ("table {{.Image}} {{.State}} {{.Pid}} {{.ExitCode}}",
     "IMAGE                STATE             PID         EXIT CODE\n"
     "localhost/bb:latest  Up 5 minutes ago  1979        0\n"
     "localhost/bb:latest  Created           0           0\n"),
    ("table {{.State}}\\t{{.Pid}}",
     "STATE             PID\nUp 5 minutes ago  1979\nCreated           0\n"),
    ("table {{.Pid}}", "PID\n1979\n0\n"),
    ("{{.State}} {{.Pid}}", "Up 5 minutes ago 1979\nCreated 0\n"),
    ("table {{.Image}}\\t{{.AutoRemove}}\\t{{.ExitedAt}}",
     "IMAGE                AUTO REMOVE  EXITED AT\n"
     "localhost/bb:latest  false        -62135596800\n"
     "localhost/bb:latest  false        -62135596800\n"),
    ("table {{.State}}  {{.Pid}}:{{.ExitCode}}",
     "STATE                         PID:EXIT CODE\n"
     "Up 5 minutes ago              1979:0\n"
     "Created                       0:0\n"),
    ("table {{.ID}} {{.Names}}",
     "CONTAINER ID  NAMES\n8407d7e20416  c1\n86721a0c7678  a-much-longer-container-name\n"),
    ("table {{.Names}}\\t{{.Labels}}",
     "NAMES                         LABELS\n"
     "c1                            map[Zed:last app:web tier:front]\n"
     "a-much-longer-container-name  map[]\n"),
    ("{{.Names}} {{.Labels}}",
     "c1 map[Zed:last app:web tier:front]\na-much-longer-container-name map[]\n"),
    ("{{.Names}}|{{.ID}}", "c1|8407d7e20416\na-much-longer-container-name|86721a0c7678\n"),
    ("{{range .}}{{.Names}},{{end}}", "c1,a-much-longer-container-name,\n"),
    ("{{.Names}}\\n", "c1\na-much-longer-container-name\n"),
    ('{{printf "\\n"}}{{.Names}}', "\nc1\na-much-longer-container-name"),
    ('table {{.Names}} {{printf "%s-%s" .Names .Names}}',
     "NAMES                         NAMES-NAMES\n"
     "c1                            c1-c1\n"
     "a-much-longer-container-name  a-much-longer-container-name-a-much-longer-container-name\n"),
]


@pytest.mark.parametrize(("template", "expected"), PODMAN_PS)
def test_podman_ps_format(template: str, expected: str) -> None:
    assert render_rows(template, PS_ROWS, name="ps", headers={"ID": "container id"}) == expected


def test_podman_ps_noheading_and_no_rows() -> None:
    # podman ps -a --noheading --format 'table {{.ID}}\t{{.Names}}'
    assert render_rows("table {{.ID}}\\t{{.Names}}", PS_ROWS, heading=False) == \
        "8407d7e20416  c1\n86721a0c7678  a-much-longer-container-name\n"
    # podman ps --filter name=nomatch --format 'table {{.ID}} {{.Names}}'
    assert render_rows("table {{.ID}} {{.Names}}", [], headers={"ID": "CONTAINER ID"}) == \
        "CONTAINER ID  NAMES\n"
    assert render_rows("{{.ID}}", []) == ""


def test_table_headers() -> None:
    assert header_for("ID") == "ID"
    assert header_for("Names") == "NAMES"
    assert header_for("CreatedAt") == "CREATED AT"
    assert header_for("RunningFor") == "RUNNING FOR"
    assert header_for("PDFLoader") == "PDF LOADER"
    assert header_for("GL11Version") == "GL 11 VERSION"
    assert header_for("lowercase") == "LOWERCASE"
    # the header row is the template rendered on the column names
    text = "table {{.Names | upper}} {{json .ID}} {{.State.Status}} {{range .Mounts}}{{.}}{{end}}"
    rows = [{"Names": "n", "ID": "i", "State": {"Status": "s"}, "Mounts": ["/m"]}]
    assert render_rows(text, rows) == \
        'NAMES       "ID"        STATUS      MOUNTS\nN           "i"         s           /m\n'


def test_rows_wrap_like_podman() -> None:
    # $ is the list of rows, as in podman's {{range .}} wrapper
    assert render_rows("{{len $}}", [{}, {}]) == "2\n2\n"
    # the template as given when its normalized form does not parse
    assert render_rows('{{"a\\nb"}}', [{}]) == "a\nb"
    assert render_rows("{{.A}}\\t{{.B}}", [{"A": 1, "B": 2}]) == "1\t2\n"
    with pytest.raises(TemplateError, match="can't evaluate field Nope"):
        render_rows("{{.Nope}}", [{"A": 1}], name="ps")


def test_normalize_has_table_is_json() -> None:
    assert normalize_format("{{.ID}}") == "{{.ID}}\n"
    assert normalize_format("{{.ID}}\\t{{.Names}}\\n") == "{{.ID}}\t{{.Names}}\n"
    assert normalize_format("table {{.ID}} {{.Names}}") == "{{.ID}}\t{{.Names}}\n"
    assert normalize_format("table {{ .ID }}\\t{{.A}}") == "{{\t.ID\t}}\t{{.A}}\n"
    assert has_table("table {{.ID}}") and not has_table("{{.ID}} table ")
    assert is_json("json") and is_json(" {{ json . }} ") and is_json("{{json}}")
    assert not is_json("{{json .Config}}") and not is_json("table json")


def test_tabwrite_is_gos_elastic_tabstops() -> None:
    # text/tabwriter's documentation: b and c are in distinct columns (the b column
    # is not contiguous all the way); d and e are in no column at all.
    text = "aaaa\tbbb\td\naa\tb\tdd\na\t\naa\tcccc\teee\n"
    assert tabwrite(text, minwidth=0, padding=1) == \
        "aaaa bbb d\naa   b   dd\na    \naa   cccc eee\n"
    # podman's settings: minimum width 12, padding 2
    assert tabwrite("A\tB\nlonger-than-twelve\tx\n") == \
        "A                   B\nlonger-than-twelve  x\n"
    assert tabwrite("no tabs\n") == "no tabs\n"
    assert tabwrite("a\tb") == "a           b"
    assert tabwrite("") == ""


def test_parsed_templates_are_cached() -> None:
    rows = [{"ID": str(n)} for n in range(50)]
    render_rows("{{.ID}} cached", rows)
    before = parse_template.cache_info()
    render_rows("{{.ID}} cached", rows)
    after = parse_template.cache_info()
    assert after.hits == before.hits + 1 and after.misses == before.misses
    assert parse_template("{{.A}}") is parse_template("{{.A}}")
    assert render("{{.A}}", {"A": 1}) == "1" and render("{{.A}}", {"A": 2}) == "2"


def test_map_fields_are_podmans_maps() -> None:
    assert {"Labels", "Annotations", "Networks", "Ports"} <= gotemplate.MAP_FIELDS
