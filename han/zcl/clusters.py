"""The ZCL and Smart Energy clusters a GB HAN device speaks, as zigpy cluster classes.

zigpy declares Basic, Identify, Time, OTA and Keep-Alive fully but leaves most Smart
Energy clusters empty. Rather than retype the ZSE 1.4 tables, each class here is compiled
at import time from `gbcs.zcl_tables` (the one source of truth the GBCS codec also uses)
on top of zigpy's own class for that cluster id: table attributes and commands win, and
zigpy's definitions fill in what the tables do not list (Identify, attribute access).

Names are the ZSE names in snake_case (``current_summation_delivered``, ``get_profile``).
Field layouts zigpy's declarative types cannot express (a ``switch`` on an earlier field,
or a count in the lower nibble of one) keep that field and everything after it as one
raw ``bytes`` field named after it, so such a command still round-trips byte for byte.
"""

from __future__ import annotations

import keyword
import types
from typing import Any

import zigpy.types as t
import zigpy.zcl.clusters  # noqa: F401  (fills zigpy's cluster registry)
from zigpy.zcl import Cluster
from zigpy.zcl.foundation import (
    DataType,
    DataTypeId,
    ZCLAttributeAccess,
    ZCLAttributeDef,
    ZCLCommandDef,
)

from gbcs.zcl_layout import snake
from gbcs.zcl_tables import ATTRIBUTES, CLUSTER_NAMES, COMMANDS

__all__ = ["CLUSTERS", "attribute", "cluster", "field_type"]

_SCALARS: dict[str, type] = {
    "u8": t.uint8_t, "u16": t.uint16_t, "u24": t.uint24_t, "u32": t.uint32_t,
    "u48": t.uint48_t, "u56": t.uint56_t, "u64": t.uint64_t,
    "i8": t.int8s, "i16": t.int16s, "i24": t.int24s, "i32": t.int32s, "i48": t.int48s,
    "i64": t.int64s,
    "e8": t.uint8_t, "e16": t.uint16_t,
    "b8": t.bitmap8, "b16": t.bitmap16, "b24": t.bitmap24, "b32": t.bitmap32,
    "b48": t.bitmap48, "b64": t.bitmap64,
    "bool": t.Bool, "utc": t.UTCTime, "date": t.Date, "eui64": t.EUI64,
    "octstr": t.LVBytes, "charstr": t.CharacterString, "bytes": t.Bytes,
}

# Names a CommandSchema (a zigpy Struct) already uses for itself.
_RESERVED = frozenset({"command", "fields", "serialize", "deserialize", "replace",
                       "as_dict", "as_tuple", "from_dict"})


class _Fixed(bytes):
    """A fixed-length octet string: `length` octets, no length prefix."""

    length = 0

    def serialize(self) -> bytes:
        if len(self) != self.length:
            raise ValueError(f"expected {self.length} octets, got {len(self)}")
        return bytes(self)

    @classmethod
    def deserialize(cls, data: bytes) -> tuple[_Fixed, bytes]:
        if len(data) < cls.length:
            raise ValueError(f"expected {cls.length} octets, got {len(data)}")
        return cls(data[:cls.length]), data[cls.length:]


_FIXED: dict[int, type[_Fixed]] = {}


def _fixed(length: int) -> type[_Fixed]:
    if length not in _FIXED:
        _FIXED[length] = type(f"Fixed{length}", (_Fixed,), {"length": length})
    return _FIXED[length]


def field_type(token: str) -> type:
    """The zigpy type of a `gbcs.zcl_tables` scalar type token (hints ignored)."""
    name = token.split()[0]
    if name.startswith("fixed"):
        return _fixed(int(name[5:]))
    return _SCALARS[name]


def _field_name(name: str) -> str:
    return f"{name}_" if keyword.iskeyword(name) or name in _RESERVED else name


def _item_type(item: Any, name: str) -> type:
    if isinstance(item, str):
        return field_type(item)
    annotations = {}
    for field in item:
        annotations[_field_name(field[0])] = _fields_type(field)
    return types.new_class(name, (t.Struct,),
                           exec_body=lambda ns: ns.update({"__annotations__": annotations}))


def _fields_type(field: tuple) -> type:
    kind = field[1]
    if kind == "rest":
        return t.List[_item_type(field[3], field[2])]
    if kind == "count":
        return t.LVList[_item_type(field[5], field[4]), field_type(field[3])]
    return field_type(kind)


def _expressible(field: tuple) -> bool:
    """Whether zigpy's declarative types can carry `field` (no switch or nibble count)."""
    if field[1] in ("switch", "nibbles"):
        return False
    if field[1] in ("rest", "count") and not isinstance(field[-1], str):
        return all(_expressible(f) for f in field[-1])
    return True


def _schema(fields: tuple) -> dict[str, type]:
    """A zigpy command schema (name -> type, ``?`` marks optional) from table fields."""
    schema: dict[str, type] = {}
    optional = False
    for field in fields:
        if not _expressible(field):
            schema[_field_name(field[0]) + ("?" if optional else "")] = t.Bytes
            break
        optional = optional or (len(field) > 2 and field[1] not in ("rest", "count")
                                and "opt" in field[2].split())
        schema[_field_name(field[0]) + ("?" if optional else "")] = _fields_type(field)
    return schema


def _unique(name: str, taken: set[str], key: int) -> str:
    name = name if name.isidentifier() and not keyword.iskeyword(name) else f"attr_{name}"
    if name in taken:
        name = f"{name}_0x{key:04x}"
    taken.add(name)
    return name


def _attributes(cluster_id: int, base: type[Cluster]) -> dict[int, ZCLAttributeDef]:
    table = ATTRIBUTES.get(cluster_id, {})
    known = {int(a.id): a for a in base.attributes.values() if not a.is_manufacturer_specific}
    out: dict[int, ZCLAttributeDef] = {}
    taken: set[str] = set()
    for attr_id, (name, type_id) in sorted(table.items()):
        zigpy_def = known.get(attr_id)
        access = zigpy_def.access if zigpy_def is not None else (
            ZCLAttributeAccess.Read | ZCLAttributeAccess.Report)
        out[attr_id] = ZCLAttributeDef(
            id=attr_id, name=_unique(snake(name), taken, attr_id),
            type=DataType.from_type_id(DataTypeId(type_id)).python_type,
            zcl_type=DataTypeId(type_id), access=access)
    for attr_id, zigpy_def in sorted(known.items()):
        if attr_id not in out:
            out[attr_id] = zigpy_def.replace(name=_unique(zigpy_def.name, taken, attr_id))
    return out


def _commands(cluster_id: int, direction: int,
              inherited: dict[int, ZCLCommandDef]) -> dict[int, ZCLCommandDef]:
    out: dict[int, ZCLCommandDef] = {}
    taken: set[str] = set()
    for (cid, dirn, command_id), (name, fields) in sorted(COMMANDS.items()):
        if cid == cluster_id and dirn == direction:
            out[command_id] = ZCLCommandDef(
                id=command_id, name=_unique(snake(name), taken, command_id),
                schema=_schema(fields))
    for command_id, zigpy_def in sorted(inherited.items()):
        if command_id not in out and not zigpy_def.is_manufacturer_specific:
            out[command_id] = zigpy_def.replace(
                name=_unique(zigpy_def.name, taken, command_id))
    return out


def _compile(cluster_id: int) -> type[Cluster]:
    base = Cluster._registry[cluster_id]
    namespace = {
        "cluster_id": cluster_id,
        "ep_attribute": base.ep_attribute,
        "name": CLUSTER_NAMES.get(cluster_id, base.__name__),
        "_skip_registry": True,
        "attributes": _attributes(cluster_id, base),
        # zigpy: server_commands are those a server receives (client to server)
        "server_commands": _commands(cluster_id, 0, base.server_commands),
        "client_commands": _commands(cluster_id, 1, base.client_commands),
    }
    return type(base.__name__, (base,), namespace)


# Identify (0x0003) is not in the GBCS tables: zigpy's own definition serves.
_CLUSTER_IDS = (0x0000, 0x0003, 0x000A, 0x0019, 0x0025, 0x0700, 0x0701, 0x0702, 0x0703,
                0x0704, 0x0705, 0x0706, 0x0707, 0x0708, 0x0709, 0x070A, 0x0800)

CLUSTERS: dict[int, type[Cluster]] = {cid: _compile(cid) for cid in _CLUSTER_IDS}


def cluster(cluster_id: int) -> type[Cluster] | None:
    """The cluster class for `cluster_id`, or None when the HAN does not speak it."""
    return CLUSTERS.get(cluster_id)


def attribute(cluster_id: int, name_or_id: str | int) -> ZCLAttributeDef | None:
    """An attribute definition by id or snake_case ZSE name, or None."""
    cls = CLUSTERS.get(cluster_id)
    if cls is None:
        return None
    if isinstance(name_or_id, int):
        return cls.attributes.get(name_or_id)
    return cls.attributes_by_name.get(name_or_id)
