from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.output_format import OutputFormat
from ..types import UNSET, Unset

T = TypeVar("T", bound="FluxUltraInput")


@_attrs_define
class FluxUltraInput:
    """
    Attributes:
        aspect_ratio (str | Unset): Aspect ratio of the image between 21:9 and 9:21 Default: '16:9'.
        image_prompt (None | str | Unset): Optional image to remix in base64 format
        image_prompt_strength (float | Unset): Blend between the prompt and the image prompt Default: 0.1.
        output_format (None | OutputFormat | Unset): Output format for the generated image. Can be 'jpeg', 'png', or
            'webp'. Default: OutputFormat.JPEG.
        prompt (None | str | Unset): The prompt to use for image generation. Default: ''. Example: A beautiful landscape
            with mountains and a lake.
        prompt_upsampling (bool | Unset): Whether to perform upsampling on the prompt. If active, automatically modifies
            the prompt for more creative generation. Default: False.
        raw (bool | Unset): Generate less processed, more natural-looking images Default: False. Example: False.
        safety_tolerance (int | Unset): Tolerance level for input and output moderation. Between 0 and 6, 0 being most
            strict, 6 being least strict. Default: 2. Example: 2.
        seed (int | None | Unset): Optional seed for reproducibility. If not provided, a random seed will be used.
            Example: 42.
        webhook_secret (None | str | Unset): Optional secret for webhook signature verification
        webhook_url (None | str | Unset): URL to receive webhook notifications
    """

    aspect_ratio: str | Unset = "16:9"
    image_prompt: None | str | Unset = UNSET
    image_prompt_strength: float | Unset = 0.1
    output_format: None | OutputFormat | Unset = OutputFormat.JPEG
    prompt: None | str | Unset = ""
    prompt_upsampling: bool | Unset = False
    raw: bool | Unset = False
    safety_tolerance: int | Unset = 2
    seed: int | None | Unset = UNSET
    webhook_secret: None | str | Unset = UNSET
    webhook_url: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        aspect_ratio = self.aspect_ratio

        image_prompt: None | str | Unset
        if isinstance(self.image_prompt, Unset):
            image_prompt = UNSET
        else:
            image_prompt = self.image_prompt

        image_prompt_strength = self.image_prompt_strength

        output_format: None | str | Unset
        if isinstance(self.output_format, Unset):
            output_format = UNSET
        elif isinstance(self.output_format, OutputFormat):
            output_format = self.output_format.value
        else:
            output_format = self.output_format

        prompt: None | str | Unset
        if isinstance(self.prompt, Unset):
            prompt = UNSET
        else:
            prompt = self.prompt

        prompt_upsampling = self.prompt_upsampling

        raw = self.raw

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
        field_dict.update({})
        if aspect_ratio is not UNSET:
            field_dict["aspect_ratio"] = aspect_ratio
        if image_prompt is not UNSET:
            field_dict["image_prompt"] = image_prompt
        if image_prompt_strength is not UNSET:
            field_dict["image_prompt_strength"] = image_prompt_strength
        if output_format is not UNSET:
            field_dict["output_format"] = output_format
        if prompt is not UNSET:
            field_dict["prompt"] = prompt
        if prompt_upsampling is not UNSET:
            field_dict["prompt_upsampling"] = prompt_upsampling
        if raw is not UNSET:
            field_dict["raw"] = raw
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
        aspect_ratio = d.pop("aspect_ratio", UNSET)

        def _parse_image_prompt(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        image_prompt = _parse_image_prompt(d.pop("image_prompt", UNSET))

        image_prompt_strength = d.pop("image_prompt_strength", UNSET)

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

        def _parse_prompt(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        prompt = _parse_prompt(d.pop("prompt", UNSET))

        prompt_upsampling = d.pop("prompt_upsampling", UNSET)

        raw = d.pop("raw", UNSET)

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

        flux_ultra_input = cls(
            aspect_ratio=aspect_ratio,
            image_prompt=image_prompt,
            image_prompt_strength=image_prompt_strength,
            output_format=output_format,
            prompt=prompt,
            prompt_upsampling=prompt_upsampling,
            raw=raw,
            safety_tolerance=safety_tolerance,
            seed=seed,
            webhook_secret=webhook_secret,
            webhook_url=webhook_url,
        )

        flux_ultra_input.additional_properties = d
        return flux_ultra_input

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
