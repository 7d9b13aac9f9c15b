#!/usr/bin/env python3
"""Reference outputs for kiln's chat-template interpreter (src/template/).

Renders templates with Python's jinja2 configured exactly as transformers'
apply_chat_template configures it (ImmutableSandboxedEnvironment with
trim_blocks, lstrip_blocks, the loopcontrols extension and the `generation`
tag; `tojson` = json.dumps(ensure_ascii=False); raise_exception;
strftime_now; transformers' dict and namespace), with strftime_now reading a
FIXED date so that outputs are deterministic. kiln must reproduce every
output byte for byte (tests/template/).

Writes:
  tests/fixtures/template/chat_cases.json       chat templates x conversations
  tests/fixtures/template/construct_cases.json  one case per Jinja construct
  src/template/builtin_templates.cpp            src/template/builtin/*.jinja
                                                embedded as raw strings
When transformers is installed, every chat case is also rendered with the
real transformers.utils.chat_template_utils.render_jinja_template (with
datetime patched to the fixed date) and must match.

Where each template comes from (the chat_template of the model's
tokenizer_config.json on the Hugging Face hub):
  builtin/qwen2.5.jinja  tokenizer.chat_template of /tmp/models/qwen-0.5b.gguf
                         (Qwen2.5-Coder-0.5B-Instruct, same as Qwen2.5-*-Instruct);
                         re-checked against the GGUF when the file is present.
  builtin/gemma3.jinja   google/gemma-3-4b-it, as quoted verbatim in the test
                         suite of a public Rust project ("output checked
                         against python transformers"), found by code search.
  builtin/llama3.jinja   meta-llama/Llama-3.1-8B-Instruct (Llama 3.3 uses the
                         same text), from a verbatim copy in a public project.
  builtin/mistral.jinja  mistralai/Mistral-7B-Instruct-v0.3 (the revision
                         with tool calling), from a verbatim copy in a public
                         project.
  fixtures extra/llama3.2.jinja, mistral-nemo.jinja: llama.cpp's
                         models/templates copies of meta-llama/Llama-3.2-3B-
                         Instruct and mistralai/Mistral-Nemo-Instruct-2407.
  fixtures extra/qwen3.jinja: Qwen3's template (reasoning, walks messages
                         backwards), from a public project's copy.
  fixtures extra/mistral-small-3.1.jinja: adapted from llama.cpp's copy of
                         Mistral-Small-3.1-24B-Instruct-2503 (keeps its
                         backslash-newline string continuations).

Usage: .venv/bin/python tools/gen_template_fixtures.py
"""
import json
import os
import sys
import traceback
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILTIN_DIR = os.path.join(ROOT, "src", "template", "builtin")
FIXTURE_DIR = os.path.join(ROOT, "tests", "fixtures", "template")
EXTRA_DIR = os.path.join(FIXTURE_DIR, "extra")
QWEN_GGUF = "/tmp/models/qwen-0.5b.gguf"

# strftime_now() sees this moment; the C++ tests set the same clock.
FIXED_NOW = datetime(2025, 3, 14, 9, 26, 53)

BUILTINS = {  # name -> (file, bos_token, eos_token)
    "gemma3": ("gemma3.jinja", "<bos>", "<eos>"),
    "llama3": ("llama3.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    "qwen2.5": ("qwen2.5.jinja", "", "<|im_end|>"),
    "mistral": ("mistral.jinja", "<s>", "</s>"),
}
EXTRAS = {
    "llama3.2": ("llama3.2.jinja", "<|begin_of_text|>", "<|eot_id|>"),
    "qwen3": ("qwen3.jinja", "", "<|im_end|>"),
    "mistral-nemo": ("mistral-nemo.jinja", "<s>", "</s>"),
    "mistral-small-3.1": ("mistral-small-3.1.jinja", "<s>", "</s>"),
}


# ---------------------------------------------------------------- environment
class GenerationTag(Extension):
    """transformers' AssistantTracker tag: {% generation %} renders its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


class TemplateDict:
    def __call__(self, *args, **kwargs):
        return dict(*args, **kwargs)

    def fromkeys(self, *args, **kwargs):
        return dict.fromkeys(*args, **kwargs)


class TemplateNamespace(jinja2.utils.Namespace):
    def __init__(*args, **kwargs):
        self, args = args[0], args[1:]
        attrs = dict(*args, **kwargs)
        for name in attrs:
            TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, name, value):
        TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)

    @staticmethod
    def _check_name(name):
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError(
                f"Chat templates cannot store underscore-prefixed attributes on a namespace, but got {name!r}. "
                "Please rename the attribute."
            )


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return FIXED_NOW.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    env.globals["dict"] = TemplateDict()
    env.globals["namespace"] = TemplateNamespace
    return env


ENV = make_env()


def alias_reasoning_fields(chat):
    out = []
    for message in chat:
        reasoning = next(
            (message[k] for k in ("reasoning_content", "thinking", "reasoning") if message.get(k) is not None), None
        )
        if reasoning is not None:
            message = {"thinking": reasoning, **message, "reasoning_content": reasoning}
        out.append(message)
    return out


def template_line(exc):
    """The template line Jinja reports for an error (syntax or runtime)."""
    if isinstance(exc, SyntaxError) and not isinstance(exc, jinja2.TemplateSyntaxError):
        return None  # Python's compile error: a line of the generated code, not of the template
    if getattr(exc, "lineno", None):
        return exc.lineno
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == "<template>":
            line = lineno
    return line


def render(source, context):
    try:
        return {"expected": ENV.from_string(source).render(**context)}
    except Exception as exc:  # recorded: kiln must fail too
        return {"error": {"type": type(exc).__name__, "message": str(exc), "line": template_line(exc)}}


# -------------------------------------------------------------- conversations
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a time zone (IANA name, ünïcode ok)",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": []},
        "return": {"type": "string"},
    },
}
SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
USER = {"role": "user", "content": "What is the capital of France?"}
ASSISTANT = {"role": "assistant", "content": "The capital of France is Paris."}
USER2 = {"role": "user", "content": "And of Germany?"}
CALL = {
    "role": "assistant",
    "content": "",
    "tool_calls": [
        {"id": "call00001", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}
    ],
}
CALL_STRING_ARGS = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {"id": "abcdefghi", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}
    ],
}
TWO_CALLS = {
    "role": "assistant",
    "content": "Let me check both.",
    "tool_calls": [
        {"id": "call00001", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
        {"id": "call00002", "type": "function", "function": {"name": "get_time", "arguments": {"tz": "Europe/Paris"}}},
    ],
}
RESULT = {"role": "tool", "tool_call_id": "call00001", "name": "get_weather", "content": "{\"temperature\": 18, \"sky\": \"clear\"}"}
RESULT2 = {"role": "tool", "tool_call_id": "call00002", "name": "get_time", "content": "09:26"}
WEATHER_USER = {"role": "user", "content": "What's the weather in Paris?"}
FINAL = {"role": "assistant", "content": "It is 18 °C and clear in Paris."}

CONVERSATIONS = {
    "user_only": ([USER], None, {}),
    "system_user": ([SYSTEM, USER], None, {}),
    "multi_turn": ([USER, ASSISTANT, USER2], None, {}),
    "system_multi_turn": ([SYSTEM, USER, ASSISTANT, USER2], None, {}),
    "ends_with_assistant": ([SYSTEM, USER, ASSISTANT], None, {}),
    "system_only": ([SYSTEM], None, {}),
    "empty": ([], None, {}),
    "tools_no_system": ([WEATHER_USER], [WEATHER_TOOL, TIME_TOOL], {}),
    "tools_with_system": ([SYSTEM, WEATHER_USER], [WEATHER_TOOL], {}),
    "tool_call_and_result": ([WEATHER_USER, CALL, RESULT, FINAL], [WEATHER_TOOL], {}),
    "tool_call_pending_result": ([SYSTEM, WEATHER_USER, CALL, RESULT], [WEATHER_TOOL], {}),
    "tool_call_string_arguments": ([WEATHER_USER, CALL_STRING_ARGS, dict(RESULT, tool_call_id="abcdefghi")], [WEATHER_TOOL], {}),
    "two_tool_calls": ([WEATHER_USER, TWO_CALLS, RESULT, RESULT2], [WEATHER_TOOL, TIME_TOOL], {}),
    "tool_call_without_tools": ([WEATHER_USER, CALL, RESULT], None, {}),
    "tool_result_as_mapping": ([WEATHER_USER, CALL, {"role": "tool", "tool_call_id": "call00001", "content": {"temperature": 18}}], None, {}),
    "unicode": (
        [
            {"role": "system", "content": "Réponds en français. 日本語もOK 🙂"},
            {"role": "user", "content": "  Ça va? «guillemets» \"quotes\" \\ back\\slash\ttab\nnew line  "},
            {"role": "assistant", "content": "Oui ! Ελληνικά, кириллица, עברית, emoji 👍🏽."},
            {"role": "user", "content": "{{ not a tag }} {% nor this %} {# nor this #}"},
        ],
        None,
        {},
    ),
    "unicode_tool_arguments": ([WEATHER_USER, dict(CALL, tool_calls=[{"id": "call00001", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich", "note": "naïve \"quoted\"\n", "n": 3, "x": 2.5, "ok": True, "none": None}}}]), RESULT], [WEATHER_TOOL], {}),
    "whitespace_content": ([{"role": "system", "content": "\n  sys  \n"}, {"role": "user", "content": "\n\n  hi there \n"}, {"role": "assistant", "content": "  ok  "}, {"role": "user", "content": " \t "}], None, {}),
    "content_parts": (
        [
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": [{"type": "text", "text": "Describe "}, {"type": "text", "text": " this."}]},
            {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]},
            {"role": "user", "content": [{"type": "text", "text": "And now?"}]},
        ],
        None,
        {},
    ),
    "not_alternating": ([USER, USER2], None, {}),
    "assistant_first": ([ASSISTANT, USER], None, {}),
    "unknown_role": ([{"role": "critic", "content": "hmm"}], None, {}),
    "missing_content": ([{"role": "user"}], None, {}),
    "reasoning": ([USER, dict(ASSISTANT, reasoning_content="Paris is the capital."), USER2], None, {}),
    "think_in_content": ([USER, {"role": "assistant", "content": "<think>\nFrance... Paris.\n</think>\n\nParis."}, USER2, {"role": "assistant", "content": "<think>\nBerlin.\n</think>\n\nBerlin."}], None, {}),
    "extra_context": ([SYSTEM, USER], None, {"date_string": "01 Jan 2030", "enable_thinking": False, "tools_in_user_message": False}),
    "tools_in_system_message": ([SYSTEM, WEATHER_USER], [WEATHER_TOOL], {"tools_in_user_message": False}),
    "builtin_tools": ([WEATHER_USER, {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "brave_search", "arguments": {"query": "Paris weather"}}}]}, {"role": "ipython", "content": "sunny"}], None, {"builtin_tools": ["brave_search", "code_interpreter", "wolfram_alpha"]}),
}


def chat_cases():
    templates = {name: (os.path.join(BUILTIN_DIR, f), bos, eos, True) for name, (f, bos, eos) in BUILTINS.items()}
    templates.update({name: (os.path.join(EXTRA_DIR, f), bos, eos, False) for name, (f, bos, eos) in EXTRAS.items()})
    cases = []
    for name, (path, bos, eos, builtin) in templates.items():
        source = open(path, encoding="utf-8").read()
        for conv_name, (messages, tools, extra) in CONVERSATIONS.items():
            for agp in (True, False):
                inputs = {"messages": messages, "tools": tools, "add_generation_prompt": agp, "extra": extra}
                context = {
                    "messages": alias_reasoning_fields(json.loads(json.dumps(messages))),
                    "tools": tools,
                    "documents": None,
                    "add_generation_prompt": agp,
                    "bos_token": bos,
                    "eos_token": eos,
                    **extra,
                }
                case = {
                    "template": name,
                    "builtin": builtin,
                    "file": os.path.relpath(path, ROOT),
                    "conversation": conv_name,
                    "bos_token": bos,
                    "eos_token": eos,
                    **inputs,
                }
                case.update(render(source, context))
                cases.append(case)
    return cases


def cross_check_with_transformers(cases):
    """Renders every chat case with transformers itself; returns the count."""
    try:
        from transformers.utils import chat_template_utils as ctu
    except ImportError:
        print("transformers not installed: skipping the cross-check")
        return 0

    class FixedDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return FIXED_NOW

    ctu.datetime = FixedDatetime
    sources = {}
    for case in cases:
        path = os.path.join(ROOT, case["file"])
        source = sources.setdefault(path, open(path, encoding="utf-8").read())
        try:
            rendered, _ = ctu.render_jinja_template(
                conversations=[json.loads(json.dumps(case["messages"]))],
                tools=case["tools"],
                chat_template=source,
                add_generation_prompt=case["add_generation_prompt"],
                bos_token=case["bos_token"],
                eos_token=case["eos_token"],
                **case["extra"],
            )
            got = {"expected": rendered[0]}
        except Exception as exc:
            got = {"error": str(exc)}
        if "expected" in case:
            assert got == {"expected": case["expected"]}, (case["template"], case["conversation"], got)
        else:
            assert got == {"error": case["error"]["message"]}, (case["template"], case["conversation"], got)
    return len(cases)


def cross_check_with_apply_chat_template(cases):
    """Renders every chat case through a tokenizer's real apply_chat_template."""
    try:
        from tokenizers import Tokenizer, models
        from transformers import PreTrainedTokenizerFast
    except ImportError:
        print("transformers/tokenizers not installed: skipping apply_chat_template")
        return 0
    tokenizers = {}
    for case in cases:
        key = (case["file"], case["bos_token"], case["eos_token"])
        if key not in tokenizers:
            tok = PreTrainedTokenizerFast(
                tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")),
                bos_token=case["bos_token"] or None,
                eos_token=case["eos_token"],
            )
            tok.chat_template = open(os.path.join(ROOT, case["file"]), encoding="utf-8").read()
            tokenizers[key] = tok
        kwargs = dict(case["extra"])
        if not case["bos_token"]:
            kwargs["bos_token"] = ""  # the template still sees the name, as in chat_cases
        try:
            got = tokenizers[key].apply_chat_template(
                json.loads(json.dumps(case["messages"])),
                tools=case["tools"],
                add_generation_prompt=case["add_generation_prompt"],
                tokenize=False,
                **kwargs,
            )
        except Exception as exc:
            assert "error" in case, (case["template"], case["conversation"], exc)
            continue
        assert got == case.get("expected"), (case["template"], case["conversation"], got)
    return len(cases)


# ----------------------------------------------------------------- constructs
C = [  # (name, template, context)
    # text and whitespace control
    ("plain text", "hello world", {}),
    ("trailing newline dropped once", "a\n\n", {}),
    ("crlf normalised", "a\r\nb\rc", {}),
    ("trim_blocks", "{% if true %}\nyes\n{% endif %}\nafter", {}),
    ("trim_blocks not after print", "{{ 'x' }}\ny", {}),
    ("lstrip_blocks", "a\n    {% if true %}\n    b\n    {% endif %}\nc", {}),
    ("lstrip_blocks not for print", "a\n    {{ 'b' }}\n", {}),
    ("lstrip_blocks needs line start", "x  {% if true %}y{% endif %}", {}),
    ("lstrip_blocks after tag end", "{% if true %}   {% if true %}z{% endif %}{% endif %}", {}),
    ("plus disables lstrip", "a\n    {%+ if true %}b{% endif %}", {}),
    ("plus disables trim", "{% if true +%}\nb{% endif %}", {}),
    ("minus left", "a  \n  {{- 'b' }}", {}),
    ("minus right", "{{ 'a' -}}  \n  b", {}),
    ("minus block", "x\n  {%- if true -%}\n  y  \n{%- endif -%}\n  z", {}),
    ("comment", "a{# a comment #}b", {}),
    ("comment trim", "a\n  {# c #}\nb", {}),
    ("comment minus", "a  {#- c -#}  b", {}),
    ("raw block", "{% raw %}{{ not evaluated }}{% endraw %}", {}),
    ("unicode whitespace strip", "a\u3000\u00a0{{- 'b' }}", {}),
    # literals and printing
    ("none and bools", "{{ none }} {{ None }} {{ true }} {{ True }} {{ false }}", {}),
    ("numbers", "{{ 1 }} {{ 1.5 }} {{ 1e3 }} {{ 2.0 }} {{ 1_000 }} {{ 0x1f }} {{ 1e-7 }} {{ 1.5e16 }} {{ 123456.789 }}", {}),
    ("float repr", "{{ 0.1 + 0.2 }} {{ 1 / 3 }} {{ 2 / 2 }} {{ 1e22 }} {{ -0.0 }} {{ 3.14159 }}", {}),
    ("string escapes", "{{ 'a\\nb\\t\\\\c\\'d' }}|{{ \"e\\\"f\" }}|{{ '\\u00e9\\x41\\101' }}|{{ 'x\\qy' }}", {}),
    ("adjacent strings", "{{ 'a' 'b' \"c\" }}", {}),
    ("list repr", "{{ [1, 'a', none, true, 2.5, [\"q'\"]] }}", {}),
    ("dict repr", "{{ {'a': 1, 'b': {'c': 'd'}} }}", {}),
    ("tuple repr", "{{ (1, 2) }} {{ (1,) }} {{ () }}", {}),
    ("print tuple", "{{ 1, 2 }}", {}),
    ("undefined prints empty", "[{{ missing }}]", {}),
    ("json values", "{{ d }} {{ d.f }} {{ d.n }}", {"d": {"f": 1.0, "n": None, "s": "x", "l": [1, True]}}),
    # operators
    ("arithmetic", "{{ 7 + 3 }} {{ 7 - 10 }} {{ 7 * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }}", {}),
    ("float arithmetic", "{{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 1.5 * 2 }} {{ 3 + 0.5 }}", {}),
    ("bool arithmetic", "{{ true + 1 }} {{ false * 3 }}", {}),
    ("string ops", "{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ 2 * 'x' }} {{ 'a' ~ 1 ~ none ~ true }}", {}),
    ("list ops", "{{ [1] + [2, 3] }} {{ [0] * 3 }}", {}),
    ("unary", "{{ -3 }} {{ +3 }} {{ -(2 + 3) }} {{ - 2 ** 2 }} {{ -1 | abs }}", {}),
    ("comparisons", "{{ 1 < 2 }} {{ 2 <= 2 }} {{ 3 > 4 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 'a' != 'a' }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ [1, 2] < [1, 3] }}", {}),
    ("logic returns operands", "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ '' and 'b' }} {{ none or [] }} {{ not 0 }} {{ not 'a' }}", {}),
    ("in operator", "{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in d }} {{ 'z' not in d }} {{ 3 not in [1] }}", {"d": {"k": 1}}),
    ("precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 3 ** 2 }} {{ 'a' ~ (1 + 2) }} {{ not true == false }} {{ 10 - 2 - 3 }} {{ 2 * 3 ~ 4 }}", {}),
    ("concat binds tighter than plus", "{{ 'a' ~ 1 + 2 }}", {}),
    ("filter binds tighter", "{{ 'a' + ' b ' | trim + 'c' }} {{ [1, 2] | length * 2 }}", {}),
    ("conditional expression", "{{ 'y' if x else 'n' }} {{ 'y' if not x else 'n' }} [{{ 'only' if false }}] {{ 1 if false else 2 if true else 3 }}", {"x": 1}),
    # names, subscripts, attributes
    ("attribute and item", "{{ d.a }} {{ d['a'] }} {{ d.b.c }} {{ l[0] }} {{ l[-1] }} {{ l.1 }} {{ 'hey'[1] }}", {"d": {"a": 1, "b": {"c": 2}}, "l": [10, 20, 30]}),
    ("missing attribute is undefined", "[{{ d.zz }}] [{{ d['zz'] }}] [{{ l[9] }}] {{ d.zz is defined }}", {"d": {}, "l": []}),
    ("attribute of none", "[{{ n.x }}] [{{ n['x'] }}]", {"n": None}),
    ("dict method beats key", "{{ d.items is defined }} {{ d['items'] }}", {"d": {"items": "key"}}),
    ("slices", "{{ l[1:] }} {{ l[:2] }} {{ l[1:3] }} {{ l[-2:] }} {{ l[::-1] }} {{ l[::2] }} {{ l[1::2] }} {{ l[-1:0:-1] }} {{ l[:-2:-1] }} {{ l[5:] }} {{ l[3:1] }}", {"l": [1, 2, 3, 4, 5]}),
    ("string slices", "{{ s[::-1] }} {{ s[1:3] }} {{ s[-2:] }} {{ s[:1] }}", {"s": "héllo"}),
    ("tuple unpacking", "{% set a, b = [1, 2] %}{{ b }}{{ a }}{% for k, v in [('x', 1), ('y', 2)] %}{{ k }}={{ v }};{% endfor %}", {}),
    # statements
    ("if elif else", "{% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %},{% endfor %}", {}),
    ("for loop variables", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}", {}),
    ("loop previtem nextitem cycle", "{% for x in [1, 2, 3] %}{{ loop.previtem }}|{{ loop.nextitem }}|{{ loop.cycle('a', 'b') }};{% endfor %}", {}),
    ("for else", "{% for x in [] %}x{% else %}empty{% endfor %}{% for x in none_list %}y{% else %}undef{% endfor %}", {}),
    ("for over dict", "{% for k in d %}{{ k }}{% endfor %} {% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %} {% for k, v in d | items %}{{ k }}{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("for with condition", "{% for x in [1, 2, 3, 4] if x % 2 == 0 %}{{ loop.index }}/{{ loop.length }}:{{ x }} {% endfor %}", {}),
    ("for with filter in iterable", "{% for m in msgs | selectattr('role', 'equalto', 'user') %}{{ m.content }}{% endfor %}", {"msgs": [{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}, {"role": "user", "content": "c"}]}),
    ("nested loops", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }}{% endfor %}{{ loop.index }} {% endfor %}", {}),
    ("break continue", "{% for n in range(10) %}{% if n == 2 %}{% continue %}{% endif %}{% if n == 5 %}{% break %}{% endif %}{{ n }}{% endfor %}", {}),
    ("set scoping in loops", "{% set x = 0 %}{% for i in [1, 2] %}{{ x }}{% set x = i %}{{ x }}{% endfor %}{{ x }}", {}),
    ("set in if leaks", "{% if true %}{% set y = 5 %}{% endif %}{{ y }}", {}),
    ("set shadows context", "{{ messages }}{% set messages = messages[1:] %}{{ messages }}", {"messages": [1, 2, 3]}),
    ("set block", "{% set x %}a{{ 1 + 1 }}b{% endset %}[{{ x }}]{% set y | upper %}low{% endset %}{{ y }}", {}),
    ("namespace", "{% set ns = namespace(total=0, seen=false) %}{% for x in [1, 2, 3] %}{% set ns.total = ns.total + x %}{% if x == 2 %}{% set ns.seen = true %}{% endif %}{% endfor %}{{ ns.total }} {{ ns.seen }}", {}),
    ("namespace empty then attr", "{% set ns = namespace() %}{% set ns.a = 'x' %}{{ ns.a }}{{ ns['a'] }}", {}),
    ("macro", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', '?') }} {{ greet(punct='.', name='Cy') }}", {}),
    ("macro reads outer", "{% set c = 3 %}{% macro f(a) %}{{ a }}{{ c }}{{ missing }}{% endmacro %}{{ f(1) }}", {}),
    ("macro missing arg", "{% macro f(a, b) %}[{{ a }}][{{ b }}]{% endmacro %}{{ f(1) }}", {}),
    ("macro varargs kwargs", "{% macro f(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ f(1, 2, 3, k='v') }}", {}),
    ("call block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}inside{% endcall %}", {}),
    ("call block with args", "{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each([1, 2]) %}[{{ x }}]{% endcall %}", {}),
    ("filter block", "{% filter upper %}shout {{ 'this' }}{% endfilter %}", {}),
    ("with block", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", {}),
    ("generation tag", "{% generation %}gen{{ 1 }}{% endgeneration %}", {}),
    ("print tag", "{% print 'p' ~ 1 %}", {}),
    # tests
    ("tests", "{{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ n is none }} {{ s is string }} {{ d is mapping }} {{ l is iterable }} {{ s is iterable }} {{ 1 is number }} {{ true is number }} {{ l is sequence }} {{ true is boolean }} {{ 1 is boolean }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ y is iterable }}", {"x": 1, "n": None, "s": "s", "d": {}, "l": []}),
    ("more tests", "{{ 1 is integer }} {{ 1.0 is float }} {{ true is integer }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ 2 is in [1, 2] }} {{ 1 is eq 1 }} {{ 1 is ne 1 }} {{ 2 is gt 1 }} {{ 2 is ge 3 }} {{ 1 is lt 2 }} {{ 1 is le 0 }} {{ 'x' is equalto 'x' }} {{ none is sameas none }} {{ range is callable }}", {}),
    ("is not", "{{ x is not none }} {{ x is not defined }} {{ not x is none }}", {"x": 0}),
    # filters
    ("trim", "[{{ '  x  ' | trim }}][{{ 'xxaxx' | trim('x') }}][{{ none | trim }}][{{ missing | trim }}]", {}),
    ("length count", "{{ 'héllo' | length }} {{ [1, 2] | count }} {{ {'a': 1} | length }} {{ missing | length }}", {}),
    ("first last", "{{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ 'abc' | first }} {{ 'abc' | last }} [{{ [] | first }}] {{ {'a': 1, 'b': 2} | last }}", {}),
    ("join", "{{ [1, 2, 3] | join }} {{ ['a', 'b'] | join(', ') }} {{ [{'n': 'x'}, {'n': 'y'}] | join('-', attribute='n') }} {{ [none, true] | join('/') }}", {}),
    ("default", "{{ missing | default('d') }} {{ missing | d('d2') }} [{{ '' | default('e') }}] {{ '' | default('e', true) }} {{ none | default('n') }} {{ 0 | default(5, boolean=true) }}", {}),
    ("case filters", "{{ 'hello WORLD' | upper }} {{ 'HeLLo' | lower }} {{ 'hello wORLD' | capitalize }} {{ 'hello wide-world (x)' | title }} {{ 'élan ÉTÉ' | upper }}", {}),
    ("replace", "{{ 'aaa' | replace('a', 'b') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 123 | replace(2, 9) }}", {}),
    ("tojson", "{{ {'a': [1, 'x', none, true, 2.5], 'é': 'ü\\n\"'} | tojson }}", {}),
    ("tojson indent", "{{ {'b': [1, {'c': 'x'}], 'a': {}, 'e': []} | tojson(indent=2) }}|{{ [1, [2]] | tojson(indent='\\t') }}", {}),
    ("tojson options", "{{ {'b': 1, 'a': [1, 2]} | tojson(separators=(',', ':'), sort_keys=true) }} {{ 'é😀' | tojson(true) }}", {}),
    ("tojson of input keeps order", "{{ tool | tojson }}", {"tool": {"zeta": 1, "alpha": {"y": 2, "x": [3.0, "\u0001"]}}}),
    ("string int float", "{{ 5 | string }} {{ [1] | string }} {{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ '0x1A' | int(base=16) }} {{ '2.5' | float }} {{ 3 | float }} {{ 'y' | float }} {{ true | int }}", {}),
    ("list filter", "{{ 'abc' | list }} {{ {'k': 1} | list }} {{ (1, 2) | list }}", {}),
    ("map", "{{ users | map(attribute='name') | join(',') }} {{ ['a', 'b'] | map('upper') | list }} {{ users | map(attribute='age', default=0) | list }} {{ users | map(attribute='address.city') | list }}", {"users": [{"name": "ann", "age": 3, "address": {"city": "X"}}, {"name": "bob", "address": {"city": "Y"}}]}),
    ("select reject", "{{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('odd') | list }} {{ [0, 1, '', 'a'] | select | list }} {{ [1, 5, 9] | select('gt', 4) | list }} {{ none | select | list }}", {}),
    ("selectattr rejectattr", "{{ items | selectattr('on') | map(attribute='n') | list }} {{ items | rejectattr('on') | map(attribute='n') | list }} {{ items | selectattr('n', 'equalto', 2) | list }} {{ items | selectattr('n', '>', 1) | map(attribute='n') | list }}", {"items": [{"n": 1, "on": True}, {"n": 2, "on": False}, {"n": 3}]}),
    ("items dictsort", "{{ d | items | list }} {{ d | dictsort }} {{ d | dictsort(reverse=true) }} {{ d | dictsort(by='value') }} {{ {'b': 1, 'A': 2} | dictsort }} {{ {'b': 1, 'A': 2} | dictsort(true) }}", {"d": {"b": 2, "a": 3, "c": 1}}),
    ("unique sort", "{{ ['a', 'B', 'A', 'b', 'c'] | unique | list }} {{ ['a', 'A'] | unique(true) | list }} {{ [3, 1, 2] | sort }} {{ ['b', 'A', 'c'] | sort }} {{ ['b', 'A', 'c'] | sort(case_sensitive=true) }} {{ [3, 1, 2] | sort(reverse=true) }} {{ users | sort(attribute='age') | map(attribute='n') | list }}", {"users": [{"n": "x", "age": 30}, {"n": "y", "age": 20}, {"n": "z", "age": 30}]}),
    ("safe escape", "{{ '<b>&\"x\\'</b>' | escape }} {{ '<i>' | e }} {{ '<s>' | safe }}", {}),
    ("indent", "[{{ 'a\\nb\\n\\nc' | indent }}][{{ 'a\\nb' | indent(2, true) }}][{{ 'a\\n\\nb' | indent(width='> ', blank=true) }}][{{ 'x\\n' | indent }}]", {}),
    ("round abs", "{{ 2.5 | round }} {{ 3.5 | round }} {{ 2.675 | round(2) }} {{ 1.23456 | round(3) }} {{ 7 | round }} {{ 2.1 | round(0, 'ceil') }} {{ 2.9 | round(method='floor') }} {{ -3 | abs }} {{ -2.5 | abs }}", {}),
    ("sum min max", "{{ [1, 2, 3] | sum }} {{ [1.5, 2] | sum }} {{ items | sum(attribute='n') }} {{ [1, 2] | sum(start=10) }} {{ [3, 1, 2] | min }} {{ [3, 1, 2] | max }} {{ ['b', 'A', 'c'] | min }} {{ ['b', 'A', 'C'] | max }} {{ items | max(attribute='n') }} [{{ [] | max }}]", {"items": [{"n": 1}, {"n": 5}]}),
    ("wordcount reverse", "{{ 'hello big  world' | wordcount }} {{ 'abc' | reverse }} {{ [1, 2] | reverse | list }} {{ 'héllo wörld_x 42' | wordcount }}", {}),
    ("attr filter", "{% set ns = namespace(v=3) %}{{ ns | attr('v') }} {{ 'abc' | attr('upper') is callable }}", {}),
    # string and dict methods
    ("strip methods", "[{{ '  x  '.strip() }}][{{ '  x  '.lstrip() }}][{{ '  x  '.rstrip() }}][{{ '\\n\\nx\\n'.strip('\\n') }}][{{ 'xxay'.lstrip('x') }}][{{ 'ayyx'.rstrip('xy') }}][{{ ' a '.strip(none) }}]", {}),
    ("split", "{{ 'a,b,,c'.split(',') }} {{ ' a  b \\n c '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'r</think>a'.split('</think>')[-1] }} {{ 'x'.split(',') }} {{ '  a b  '.split(none, 1) }}", {}),
    ("startswith endswith", "{{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }} {{ 'hello'.endswith('x') }}", {}),
    ("case methods", "{{ 'ab'.upper() }} {{ 'AB'.lower() }} {{ \"hello world they're\".title() }} {{ 'hELLO'.capitalize() }}", {}),
    ("replace find count", "{{ 'a-b-c'.replace('-', '+') }} {{ 'a-b-c'.replace('-', '', 1) }} {{ 'héllo'.find('l') }} {{ 'abc'.find('z') }} {{ 'banana'.count('an') }}", {}),
    ("other string methods", "{{ ', '.join(['a', 'b']) }} {{ 'a\\nb\\r\\nc'.splitlines() }} {{ '12'.isdigit() }} {{ 'ab'.isalpha() }} {{ ' '.isspace() }}", {}),
    ("dict methods", "{{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list }} {{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 'dflt') }}", {"d": {"a": 1, "b": [2]}}),
    ("list methods", "{{ l.index(2) }} {{ l.count(1) }}", {"l": [1, 2, 1]}),
    # globals
    ("range", "{{ range(3) | list }} {{ range(1, 8, 3) | list }} {{ range(3, -1, -1) | list }} {{ range(0, 3, -1) | list }}", {}),
    ("dict global", "{{ dict(a=1, b=2) }} {{ dict([('x', 1)]) }} {{ dict() }}", {}),
    ("strftime_now", "{{ strftime_now('%Y-%m-%d %H:%M:%S') }} {{ strftime_now('%d %b %Y') }} {{ strftime_now('%A %B %j') }}", {}),
    ("joiner", "{% set j = joiner(' | ') %}{% for x in [1, 2, 3] %}{{ j() }}{{ x }}{% endfor %}", {}),
    # errors (runtime)
    ("raise_exception", "line1\n{{ raise_exception('Roles must alternate!') }}", {}),
    ("raise_exception in loop", "{% for m in msgs %}\n{% if m == 2 %}\n{{ raise_exception('bad message ' ~ m) }}\n{% endif %}\n{% endfor %}", {"msgs": [1, 2]}),
    ("undefined attribute error", "ok\n{{ foo.bar }}", {}),
    ("undefined nested attribute error", "{{ d.x.y }}", {"d": {}}),
    ("type error concat", "a\nb\n{{ 'a' + 1 }}", {}),
    ("type error add list", "{{ [1] + 'a' }}", {}),
    ("call undefined", "{{ foo() }}", {}),
    ("call non callable", "{{ 'abc'() }}", {}),
    ("division by zero", "{{ 1 / 0 }}", {}),
    ("unpack mismatch", "{% for a, b in [[1, 2, 3]] %}{% endfor %}", {}),
    ("iterate none", "{% for x in none %}{% endfor %}", {}),
    ("iterate int", "{% for x in 5 %}{% endfor %}", {}),
    ("tojson undefined", "{{ missing | tojson }}", {}),
    ("unsafe list method", "{{ [1].append(2) }}", {}),
    ("unsafe dict method", "{{ {'a': 1}.pop('a') }}", {}),
    ("namespace underscore", "{% set ns = namespace() %}{% set ns._x = 1 %}", {}),
    ("set attr on dict", "{% set d = {} %}{% set d.a = 1 %}", {}),
    ("compare str int", "{{ 'a' < 1 }}", {}),
    ("range too big", "{{ range(1000000) | length }}", {}),
    ("macro too many args", "{% macro f(a) %}{% endmacro %}{{ f(1, 2) }}", {}),
    ("int filter on none ok", "{{ none | int }}", {}),
    ("length of int", "{{ 5 | length }}", {}),
    # errors (syntax)
    ("syntax unclosed print", "line1\n{{ 1 + }}", {}),
    ("syntax unclosed for", "a\n{% for x in y %}\nb", {}),
    ("syntax unknown tag", "{% frobnicate %}", {}),
    ("syntax endif without if", "x\n{% endif %}", {}),
    ("syntax unknown filter", "\n\n{{ x | nosuchfilter }}", {}),
    ("syntax unknown test", "{{ x is nosuchtest }}", {}),
    ("syntax missing expression", "{% if %}{% endif %}", {}),
    ("syntax bad char", "{{ a ! b }}", {}),
    ("syntax unbalanced", "{{ (1 + 2 }}", {}),
    ("syntax unterminated comment", "a{# never closed", {}),
    ("syntax unterminated string", "{{ 'abc }}", {}),
    ("syntax break outside loop", "{% break %}", {}),
    ("syntax assign to literal", "{% set 1 = 2 %}", {}),
    ("syntax include unsupported", "{% include 'x.html' %}", {}),
]


def construct_cases():
    cases = []
    for name, source, context in C:
        case = {"name": name, "template": source, "context": context}
        case.update(render(source, context))
        cases.append(case)
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "construct case names must be unique"
    return cases


# ------------------------------------------------------------- embedding
def write_builtin_cpp():
    lines = [
        "// Generated by tools/gen_template_fixtures.py from src/template/builtin/*.jinja:",
        "// the official chat templates, embedded so that model files without a",
        "// tokenizer.chat_template still get their family's template. Do not edit;",
        "// edit the .jinja file and rerun the script.",
        '#include "template/chat_template.h"',
        "",
        "namespace kiln::tmpl {",
        "namespace {",
        "",
        "struct Builtin {",
        "  const char* name;",
        "  const char* source;",
        "};",
        "",
        "const Builtin kBuiltins[] = {",
    ]
    delimiter = "kiln_jinja"
    for name, (filename, _, _) in BUILTINS.items():
        text = open(os.path.join(BUILTIN_DIR, filename), encoding="utf-8").read()
        assert ")" + delimiter + '"' not in text
        lines.append(f'    {{"{name}", R"{delimiter}({text}){delimiter}"}},')
    lines += [
        "};",
        "",
        "}  // namespace",
        "",
        "std::optional<std::string> builtin_chat_template(std::string_view name) {",
        "  for (const auto& builtin : kBuiltins)",
        "    if (name == builtin.name) return std::string(builtin.source);",
        "  return std::nullopt;",
        "}",
        "",
        "std::vector<std::string> builtin_chat_template_names() {",
        "  std::vector<std::string> names;",
        "  for (const auto& builtin : kBuiltins) names.emplace_back(builtin.name);",
        "  return names;",
        "}",
        "",
        "}  // namespace kiln::tmpl",
        "",
    ]
    with open(os.path.join(ROOT, "src", "template", "builtin_templates.cpp"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def check_qwen_against_gguf():
    if not os.path.exists(QWEN_GGUF):
        print(f"{QWEN_GGUF} missing: not re-checking qwen2.5.jinja")
        return
    import gguf

    field = gguf.GGUFReader(QWEN_GGUF).fields["tokenizer.chat_template"]
    from_gguf = bytes(field.parts[field.data[0]]).decode("utf-8")
    committed = open(os.path.join(BUILTIN_DIR, "qwen2.5.jinja"), encoding="utf-8").read()
    assert from_gguf == committed, "qwen2.5.jinja differs from the GGUF's tokenizer.chat_template"
    print("qwen2.5.jinja matches the GGUF's tokenizer.chat_template")


def main():
    check_qwen_against_gguf()
    write_builtin_cpp()
    chats = chat_cases()
    constructs = construct_cases()
    checked = cross_check_with_transformers(chats)
    applied = cross_check_with_apply_chat_template(chats)
    os.makedirs(FIXTURE_DIR, exist_ok=True)
    for filename, cases in (("chat_cases.json", chats), ("construct_cases.json", constructs)):
        with open(os.path.join(FIXTURE_DIR, filename), "w", encoding="utf-8") as f:
            json.dump({"jinja2_version": jinja2.__version__, "fixed_now": FIXED_NOW.isoformat(), "cases": cases}, f,
                      ensure_ascii=False, indent=1)
            f.write("\n")
    errors = sum("error" in c for c in chats)
    print(f"{len(chats)} chat cases ({errors} errors), {len(constructs)} construct cases; "
          f"{checked} chat cases cross-checked with transformers' render_jinja_template, "
          f"{applied} with a tokenizer's apply_chat_template")


if __name__ == "__main__":
    sys.exit(main())
