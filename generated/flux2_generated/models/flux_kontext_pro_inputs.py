from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.output_format import OutputFormat
from ..types import UNSET, Unset

T = TypeVar("T", bound="FluxKontextProInputs")


@_attrs_define
class FluxKontextProInputs:
    """
    Attributes:
        prompt (str): Text prompt for image generation. Example: ein fantastisches bild.
        aspect_ratio (None | str | Unset): Aspect ratio of the image between 21:9 and 9:21
        input_image (None | str | Unset): Base64 encoded image or URL to use with Kontext.
        input_image_2 (None | str | Unset): Base64 encoded image or URL to use with Kontext. *Experimental Multiref*
        input_image_3 (None | str | Unset): Base64 encoded image or URL to use with Kontext. *Experimental Multiref*
        input_image_4 (None | str | Unset): Base64 encoded image or URL to use with Kontext. *Experimental Multiref*
        output_format (None | OutputFormat | Unset): Output format for the generated image. Can be 'jpeg', 'png', or
            'webp'. Default: OutputFormat.PNG.
        prompt_upsampling (bool | Unset): Whether to perform upsampling on the prompt. If active, automatically modifies
            the prompt for more creative generation. Default: False.
        safety_tolerance (int | Unset): Tolerance level for input and output moderation. Between 0 and 6, 0 being most
            strict, 6 being least strict. Default: 2. Example: 2.
        seed (int | None | Unset): Optional seed for reproducibility. Example: 42.
        webhook_secret (None | str | Unset): Optional secret for webhook signature verification
        webhook_url (None | str | Unset): URL to receive webhook notifications
    """

    prompt: str
    aspect_ratio: None | str | Unset = UNSET
    input_image: None | str | Unset = UNSET
    input_image_2: None | str | Unset = UNSET
    input_image_3: None | str | Unset = UNSET
    input_image_4: None | str | Unset = UNSET
    output_format: None | OutputFormat | Unset = OutputFormat.PNG
    prompt_upsampling: bool | Unset = False
    safety_tolerance: int | Unset = 2
    seed: int | None | Unset = UNSET
    webhook_secret: None | str | Unset = UNSET
    webhook_url: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        prompt = self.prompt

        aspect_ratio: None | str | Unset
        if isinstance(self.aspect_ratio, Unset):
            aspect_ratio = UNSET
        else:
            aspect_ratio = self.aspect_ratio

        input_image: None | str | Unset
        if isinstance(self.input_image, Unset):
            input_image = UNSET
        else:
            input_image = self.input_image

        input_image_2: None | str | Unset
        if isinstance(self.input_image_2, Unset):
            input_image_2 = UNSET
        else:
            input_image_2 = self.input_image_2

        input_image_3: None | str | Unset
        if isinstance(self.input_image_3, Unset):
            input_image_3 = UNSET
        else:
            input_image_3 = self.input_image_3

        input_image_4: None | str | Unset
        if isinstance(self.input_image_4, Unset):
            input_image_4 = UNSET
        else:
            input_image_4 = self.input_image_4

        output_format: None | str | Unset
        if isinstance(self.output_format, Unset):
            output_format = UNSET
        elif isinstance(self.output_format, OutputFormat):
            output_format = self.output_format.value
        else:
            output_format = self.output_format

        prompt_upsampling = self.prompt_upsampling

        safety_tolerance = self.safety_tolerance

        seed: int | None | Unset
        if isinstance(self.seed, Unset):
            seed = UNSET
        else:
            seed = self.seed

        webhook_secret: None | str | Unset
        if isinstance(self.webhook_secret, Unset):
            webhook_secret = UNSET
        else:
            webhook_secret = self.webhook_secret

        webhook_url: None | str | Unset
        if isinstance(self.webhook_url, Unset):
            webhook_url = UNSET
        else:
            webhook_url = self.webhook_url

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "prompt": prompt,
            }
        )
        if aspect_ratio is not UNSET:
            field_dict["aspect_ratio"] = aspect_ratio
        if input_image is not UNSET:
            field_dict["input_image"] = input_image
        if input_image_2 is not UNSET:
            field_dict["input_image_2"] = input_image_2
        if input_image_3 is not UNSET:
            field_dict["input_image_3"] = input_image_3
        if input_image_4 is not UNSET:
            field_dict["input_image_4"] = input_image_4
        if output_format is not UNSET:
            field_dict["output_format"] = output_format
        if prompt_upsampling is not UNSET:
            field_dict["prompt_upsampling"] = prompt_upsampling
        if safety_tolerance is not UNSET:
            field_dict["safety_tolerance"] = safety_tolerance
        if seed is not UNSET:
            field_dict["seed"] = seed
        if webhook_secret is not UNSET:
            field_dict["webhook_secret"] = webhook_secret
        if webhook_url is not UNSET:
            field_dict["webhook_url"] = webhook_url

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        prompt = d.pop("prompt")

        def _parse_aspect_ratio(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        aspect_ratio = _parse_aspect_ratio(d.pop("aspect_ratio", UNSET))

        def _parse_input_image(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image = _parse_input_image(d.pop("input_image", UNSET))

        def _parse_input_image_2(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image_2 = _parse_input_image_2(d.pop("input_image_2", UNSET))

        def _parse_input_image_3(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image_3 = _parse_input_image_3(d.pop("input_image_3", UNSET))

        def _parse_input_image_4(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        input_image_4 = _parse_input_image_4(d.pop("input_image_4", UNSET))

        def _parse_output_format(data: object) -> None | OutputFormat | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                output_format_type_0 = OutputFormat(data)

                return output_format_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | OutputFormat | Unset, data)

        output_format = _parse_output_format(d.pop("output_format", UNSET))

        prompt_upsampling = d.pop("prompt_upsampling", UNSET)

        safety_tolerance = d.pop("safety_tolerance", UNSET)

        def _parse_seed(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        seed = _parse_seed(d.pop("seed", UNSET))

        def _parse_webhook_secret(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        webhook_secret = _parse_webhook_secret(d.pop("webhook_secret", UNSET))

        def _parse_webhook_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        webhook_url = _parse_webhook_url(d.pop("webhook_url", UNSET))

        flux_kontext_pro_inputs = cls(
            prompt=prompt,
            aspect_ratio=aspect_ratio,
            input_image=input_image,
            input_image_2=input_image_2,
            input_image_3=input_image_3,
            input_image_4=input_image_4,
            output_format=output_format,
            prompt_upsampling=prompt_upsampling,
            safety_tolerance=safety_tolerance,
            seed=seed,
            webhook_secret=webhook_secret,
            webhook_url=webhook_url,
        )

        flux_kontext_pro_inputs.additional_properties = d
        return flux_kontext_pro_inputs

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
