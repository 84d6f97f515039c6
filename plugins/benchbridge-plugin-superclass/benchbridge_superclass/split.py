"""Split `superclass`: halves made of whole superclasses, so A and B share no superclass (a dissimilar split)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from benchbridge.api import ClassInfo, Split, SplitKind, UserError


class SuperclassSplitOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attribute: str = Field("superclass", description="class attribute to group by (e.g. superclass, domain)")
    target: list[str] | None = Field(None, description="superclasses of half B; default: a seeded random half")
    seed: int = Field(0, ge=0, description="seed for the random half of superclasses when target is not given")
    kind: SplitKind = Field("dissimilar", description="what the halves are to each other, for the report: "
                            "dissimilar (whole superclasses apart), random or other")


class SuperclassSplit:
    """A and B hold disjoint superclasses: given as a list for B, or a seeded random half of them."""

    name = "superclass"
    description = "halves of whole superclasses (any class attribute): explicit target list or seeded random"
    Options = SuperclassSplitOptions

    def split(self, options: SuperclassSplitOptions, classes: list[ClassInfo]) -> Split:
        groups = sorted({c.attributes.get(options.attribute) for c in classes}, key=str)
        if None in groups or len(groups) < 2:
            raise UserError(f"the dataset's classes do not all carry the attribute '{options.attribute}' with at "
                            f"least two values (found: {[str(g) for g in groups][:10]}).", key="options.attribute",
                            hint="Use the superclass_folder dataset, or name an attribute the dataset declares.")
        target = self._target(options, groups)
        a = tuple(c.index for c in classes if c.attributes[options.attribute] not in target)
        b = tuple(c.index for c in classes if c.attributes[options.attribute] in target)
        if not a:
            raise UserError("every superclass is in the target half; half A would be empty.", key="options.target")
        label = f"superclass-s{options.seed}" if options.target is None else "superclass-" + "+".join(sorted(target))
        return Split(label, a, b, options.kind)

    def _target(self, o: SuperclassSplitOptions, groups: list[str]) -> set[str]:
        if o.target is None:
            rng = np.random.RandomState([o.seed])
            return {groups[i] for i in rng.choice(len(groups), len(groups) // 2, replace=False)}
        unknown = sorted(set(o.target) - set(groups))
        if unknown:
            raise UserError(f"unknown superclasses {unknown}; the dataset has {groups[:20]}.", key="options.target")
        return set(o.target)
