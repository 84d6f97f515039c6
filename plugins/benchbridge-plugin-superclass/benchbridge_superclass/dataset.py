"""Dataset `superclass_folder`: an ImageFolder plus a class -> superclass file, prepared once into shards."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import (ClassInfo, DatasetSource, UserError, convert_imagefolder, find_layout, open_shards,
                             read_index)

FORMAT_HINT = "Expected CSV lines 'class,superclass' or a YAML/JSON mapping {class: superclass}."


class SuperclassOptions(BaseModel):
    """Options of an ImageFolder with superclasses."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(description="ImageFolder root: train/<class>/* and val/<class>/* (or test/)")
    superclasses: Path = Field(description="class -> superclass file (CSV 'class,superclass', or YAML/JSON)")
    attribute: str = Field("superclass", description="class attribute that holds the superclass")
    size: int | None = Field(None, ge=8, description="resize the shorter side to this many pixels when preparing")
    root: Path | None = Field(None, description="where to write the shards; default data/superclass-<hash>")


def read_superclasses(path: Path, classes: list[str]) -> dict[str, str]:
    """The superclass of every class, from a CSV or YAML/JSON file; every class must have one."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError("superclass file not found.", file=str(path), hint=FORMAT_HINT)
    text = path.read_text()
    if path.suffix.lower() == ".csv":
        rows = [r for r in csv.reader(text.splitlines()) if r and not r[0].startswith("#")]
        if any(len(r) != 2 for r in rows):
            raise UserError("every CSV line needs exactly two fields.", file=str(path), hint=FORMAT_HINT)
        mapping = {r[0].strip(): r[1].strip() for r in rows if r[0].strip() != "class"}
    else:
        data = yaml.safe_load(text)
        if not isinstance(data, dict):
            raise UserError("not a mapping of class names to superclasses.", file=str(path), hint=FORMAT_HINT)
        mapping = {str(k): str(v) for k, v in data.items()}
    unknown = sorted(set(mapping) - set(classes))
    missing = sorted(set(classes) - set(mapping))
    if unknown or missing:
        raise UserError(f"the file does not match the class folders (unknown: {unknown[:5]}, without a "
                        f"superclass: {missing[:5]}).", file=str(path),
                        hint="Give one line per class folder of the train folder.")
    return mapping


def _classes(o: SuperclassOptions) -> list[str]:
    return find_layout(Path(o.path))[2]


def default_root(o: SuperclassOptions) -> Path:
    fields = {k: str(v) for k, v in o.model_dump(exclude={"root"}).items()}
    fields["path"] = str(Path(o.path).expanduser().resolve())
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]
    return Path("data") / f"superclass-{digest}"


class SuperclassFolder:
    """An ImageFolder whose classes carry a superclass attribute (e.g. CIFAR-100's 20 coarse labels)."""

    name = "superclass_folder"
    description = "ImageFolder + class->superclass file; prepared once into shards, attribute 'superclass'"
    Options = SuperclassOptions

    def describe(self, options: SuperclassOptions) -> list[ClassInfo]:
        classes = _classes(options)
        supers = read_superclasses(options.superclasses, classes)
        return [ClassInfo(i, c, {options.attribute: supers[c]}) for i, c in enumerate(classes)]

    def open(self, options: SuperclassOptions) -> DatasetSource:
        infos = self.describe(options)
        root = Path(options.root).expanduser() if options.root else default_root(options)
        index = read_index(root)
        if index is None or [c["attributes"] for c in index["classes"]] != [c.attributes for c in infos]:
            attributes = root.parent / f".{root.name}.attributes.yaml"
            root.parent.mkdir(parents=True, exist_ok=True)
            attributes.write_text(yaml.safe_dump({c.name: c.attributes for c in infos}))
            convert_imagefolder(Path(options.path), root, attributes=attributes, size=options.size,
                                name="superclass_folder")
        return open_shards(root, "superclass_folder")
