#!/usr/bin/env python3
"""Structured output with the official openai client against `nomoat serve` on the default chat
model (SmolLM2-135M-Instruct): every answer to a `json_schema` request validates against its
schema (checked with the `jsonschema` package), `chat.completions.parse` returns a parsed Pydantic
object, `json_object`, `regex` and Lark `grammar` are followed, n > 1 choices each follow the
schema, and a schema keyword the grammar engine cannot enforce is a 400 that names it.

Usage: python3 .ci/structured_output_test.py [NOMOAT_BINARY] [MODEL]
Prints the pass rate; any invalid output fails the test (the guarantee is that none can be).
"""
import json
import os
import re
import sys
from typing import List, Literal, Optional

import jsonschema
import openai
from pydantic import BaseModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverkit import Server, check, default_binary  # noqa: E402

OBJ = "object"


def obj(props, required=None, **extra):
    s = {"type": OBJ, "properties": props, "required": list(props) if required is None else required,
         "additionalProperties": False}
    s.update(extra)
    return s


S = {"type": "string"}
I = {"type": "integer"}
N = {"type": "number"}
B = {"type": "boolean"}

# (prompt, schema): real-world shapes — nested objects, arrays, enums, anyOf, $ref, string
# formats, numeric and length bounds, optional fields, nullable values.
CASES = [
    ("Describe a person.", obj({"name": S, "age": {"type": "integer", "minimum": 0, "maximum": 120}})),
    ("Give a city and its country.", obj({"city": S, "country": S})),
    ("Is water wet? Answer with a boolean and a reason.", obj({"answer": B, "reason": {"type": "string", "maxLength": 80}})),
    ("Pick a primary color.", obj({"color": {"enum": ["red", "green", "blue"]}})),
    ("List three fruits.", obj({"fruits": {"type": "array", "items": S, "minItems": 3, "maxItems": 3}})),
    ("Give a product with a price.", obj({"product": S, "price": {"type": "number", "minimum": 0}, "currency": {"enum": ["USD", "EUR", "GBP"]}})),
    ("Give an address.", obj({"street": S, "city": S, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}})),
    ("Create a user account.", obj({"username": {"type": "string", "minLength": 3, "maxLength": 16, "pattern": "^[a-z0-9_]+$"}, "email": {"type": "string", "format": "email"}})),
    ("When is the meeting?", obj({"date": {"type": "string", "format": "date"}, "topic": S})),
    ("Rate a movie.", obj({"title": S, "stars": {"type": "integer", "minimum": 1, "maximum": 5}})),
    ("Give a point in 2D.", obj({"x": N, "y": N})),
    ("Describe a book.", obj({"title": S, "author": obj({"first": S, "last": S}), "year": {"type": "integer", "minimum": 1400, "maximum": 2030}})),
    ("Make a todo list with two items.", obj({"todos": {"type": "array", "maxItems": 4, "items": obj({"task": S, "done": B})}})),
    ("Classify the sentiment of 'I love it'.", obj({"sentiment": {"enum": ["positive", "negative", "neutral"]}, "confidence": {"type": "number", "minimum": 0, "maximum": 1}})),
    ("Give an id that is either a number or a string.", obj({"id": {"anyOf": [I, S]}})),
    ("Describe a pet; the owner may be unknown.", obj({"pet": S, "owner": {"anyOf": [S, {"type": "null"}]}})),
    ("Give a shape.", {"anyOf": [obj({"kind": {"const": "circle"}, "radius": N}), obj({"kind": {"const": "square"}, "side": N})]}),
    ("Describe a family of two people.", {"$defs": {"person": obj({"name": S, "age": I})}, "type": OBJ,
                                           "properties": {"parent": {"$ref": "#/$defs/person"}, "child": {"$ref": "#/$defs/person"}},
                                           "required": ["parent", "child"], "additionalProperties": False}),
    ("Give a tree node with children.", {"$defs": {"node": {"type": OBJ, "properties": {"name": S, "children": {"type": "array", "maxItems": 2, "items": {"$ref": "#/$defs/node"}}}, "required": ["name"], "additionalProperties": False}},
                                          "$ref": "#/$defs/node"}),
    ("Give the weather.", obj({"temperature_c": {"type": "number", "minimum": -90, "maximum": 60}, "conditions": {"enum": ["sunny", "cloudy", "rain", "snow"]}, "wind_kph": {"type": "integer", "minimum": 0}})),
    ("Give an HTTP request.", obj({"method": {"enum": ["GET", "POST", "PUT", "DELETE"]}, "url": {"type": "string", "format": "uri"}, "headers": {"type": "object", "additionalProperties": S}})),
    ("Give a log entry.", obj({"level": {"enum": ["debug", "info", "warn", "error"]}, "message": S, "timestamp": {"type": "string", "format": "date-time"}})),
    ("Give a recipe.", obj({"name": S, "ingredients": {"type": "array", "items": obj({"item": S, "grams": {"type": "integer", "minimum": 1}}), "minItems": 1, "maxItems": 3}, "vegan": B})),
    ("Give a color as RGB.", obj({"r": {"type": "integer", "minimum": 0, "maximum": 255}, "g": {"type": "integer", "minimum": 0, "maximum": 255}, "b": {"type": "integer", "minimum": 0, "maximum": 255}})),
    ("Give an event with optional notes.", obj({"event": S, "notes": S}, required=["event"])),
    ("Give an invoice.", obj({"number": {"type": "string", "pattern": "^INV-[0-9]{4}$"}, "total": {"type": "number", "exclusiveMinimum": 0}, "paid": B})),
    ("Give matrix rows.", obj({"rows": {"type": "array", "maxItems": 2, "items": {"type": "array", "items": I, "maxItems": 3}}})),
    ("Give a version number.", obj({"major": {"type": "integer", "minimum": 0}, "minor": {"type": "integer", "minimum": 0}, "patch": {"type": "integer", "minimum": 0}})),
    ("Give a yes or no answer.", {"enum": ["yes", "no"]}),
    ("Give a list of tags.", {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 5}),
    ("Give a number between 1 and 10.", {"type": "integer", "minimum": 1, "maximum": 10}),
    ("Describe a car.", obj({"make": S, "model": S, "year": {"type": "integer", "minimum": 1900, "maximum": 2030}, "electric": B, "owners": {"type": "array", "items": S, "maxItems": 2}})),
]

FORMAT_CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER


class Person(BaseModel):
    name: str
    age: int
    hobbies: List[str]
    role: Literal["admin", "user"]
    nickname: Optional[str] = None


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else default_binary()
    model = sys.argv[2] if len(sys.argv) > 2 else "smollm2-135m-instruct"
    with Server(binary, ["-m", model, "--ctx", "4096", "--parallel", "4"]) as srv:
        client = openai.OpenAI(base_url=srv.base + "/v1", api_key="unused", max_retries=0)
        valid = truncated = 0
        for i, (prompt, schema) in enumerate(CASES):
            r = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": prompt + " Answer in JSON."}],
                max_tokens=300, temperature=1.0, seed=i,
                response_format={"type": "json_schema", "json_schema": {"name": f"case{i}", "schema": schema, "strict": True}})
            text = r.choices[0].message.content
            if r.choices[0].finish_reason == "length":
                truncated += 1
                print(f"  case {i}: hit max_tokens (not counted): {text[:80]!r}")
                continue
            try:
                value = json.loads(text)
                jsonschema.validate(value, schema, format_checker=FORMAT_CHECKER)
            except Exception as e:  # noqa: BLE001 - any failure is the test failing
                raise AssertionError(f"case {i} ({prompt}): {e}\n{text}")
            valid += 1
        done = len(CASES) - truncated
        check(valid == done, f"json_schema: {valid}/{done} complete outputs validate ({truncated} hit max_tokens)")
        check(truncated <= len(CASES) // 5, f"at most a fifth hit max_tokens ({truncated})")

        # A 135M model can ramble inside a string until max_tokens; the grammar keeps it valid,
        # not short. Try a few seeds for one that completes.
        parsed = None
        for seed in range(4):
            try:
                p = client.chat.completions.parse(
                    model=model, messages=[{"role": "user", "content": "Invent a user profile."}],
                    response_format=Person, max_tokens=300, temperature=0.8, seed=seed)
            except openai.LengthFinishReasonError:
                continue
            parsed = p.choices[0].message.parsed
            break
        check(isinstance(parsed, Person), f"chat.completions.parse returns a Person: {parsed!r}")

        r = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Describe yourself in JSON."}],
            response_format={"type": "json_object"}, max_tokens=200, temperature=0.7, seed=3, n=3)
        for c in r.choices:
            if c.finish_reason == "stop":
                check(isinstance(json.loads(c.message.content), dict), f"json_object choice {c.index} is an object")

        r = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "What is 6 times 7?"}],
            extra_body={"response_format": {"type": "regex", "regex": "The answer is [0-9]+\\."}}, max_tokens=20)
        check(re.fullmatch(r"The answer is [0-9]+\.", r.choices[0].message.content) is not None,
              f"regex followed: {r.choices[0].message.content!r}")

        lark = 'start: "Verdict: " ("guilty" | "not guilty") "."\n'
        r = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Give a verdict."}],
            extra_body={"response_format": {"type": "grammar", "grammar": lark}}, max_tokens=20)
        check(r.choices[0].message.content in ("Verdict: guilty.", "Verdict: not guilty."),
              f"Lark grammar followed: {r.choices[0].message.content!r}")

        r = client.completions.create(model=model, prompt="The three primary colors are", max_tokens=60,
                                      extra_body={"response_format": {"type": "json_schema", "json_schema": {
                                          "name": "c", "schema": CASES[4][1]}}})
        if r.choices[0].finish_reason == "stop":
            jsonschema.validate(json.loads(r.choices[0].text), CASES[4][1])
            check(True, "/v1/completions follows response_format too")

        for bad, word in [({"type": "array", "uniqueItems": True}, "uniqueItems"),
                          ({"type": "object", "if": {"required": ["a"]}, "then": {}}, "if")]:
            try:
                client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": "x"}], max_tokens=5,
                    response_format={"type": "json_schema", "json_schema": {"name": "bad", "schema": bad}})
                raise AssertionError(f"{word} was accepted")
            except openai.BadRequestError as e:
                check(word in str(e), f"unsupported keyword refused by name: {e.message}")


if __name__ == "__main__":
    main()
