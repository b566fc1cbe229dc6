from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="AsyncResponse")


@_attrs_define
class AsyncResponse:
    """
    Attributes:
        id (str):
        polling_url (str):
        cost (float | None | Unset): Cost in credits for this request
        input_mp (float | None | Unset): Input megapixels (2 decimal places)
        output_mp (float | None | Unset): Output megapixels (2 decimal places)
    """

    id: str
    polling_url: str
    cost: float | None | Unset = UNSET
    input_mp: float | None | Unset = UNSET
    output_mp: float | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        polling_url = self.polling_url

        cost: float | None | Unset
        if isinstance(self.cost, Unset):
            cost = UNSET
        else:
            cost = self.cost

        input_mp: float | None | Unset
        if isinstance(self.input_mp, Unset):
            input_mp = UNSET
        else:
            input_mp = self.input_mp

        output_mp: float | None | Unset
        if isinstance(self.output_mp, Unset):
            output_mp = UNSET
        else:
            output_mp = self.output_mp

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "polling_url": polling_url,
            }
        )
        if cost is not UNSET:
            field_dict["cost"] = cost
        if input_mp is not UNSET:
            field_dict["input_mp"] = input_mp
        if output_mp is not UNSET:
            field_dict["output_mp"] = output_mp

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        id = d.pop("id")

        polling_url = d.pop("polling_url")

        def _parse_cost(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        cost = _parse_cost(d.pop("cost", UNSET))

        def _parse_input_mp(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        input_mp = _parse_input_mp(d.pop("input_mp", UNSET))

        def _parse_output_mp(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        output_mp = _parse_output_mp(d.pop("output_mp", UNSET))

        async_response = cls(
            id=id,
            polling_url=polling_url,
            cost=cost,
            input_mp=input_mp,
            output_mp=output_mp,
        )

        async_response.additional_properties = d
        return async_response

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
