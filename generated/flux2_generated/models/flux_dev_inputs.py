from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.output_format import OutputFormat
from ..types import UNSET, Unset

T = TypeVar("T", bound="FluxDevInputs")


@_attrs_define
class FluxDevInputs:
    """
    Attributes:
        guidance (float | None | Unset): Guidance scale for image generation. High guidance scales improve prompt
            adherence at the cost of reduced realism. Default: 3.0. Example: 3.0.
        height (int | Unset): Height of the generated image in pixels. Must be a multiple of 32. Default: 768.
        image_prompt (None | str | Unset): Optional base64 encoded image to use as a prompt for generation.
        output_format (None | OutputFormat | Unset): Output format for the generated image. Can be 'jpeg', 'png', or
            'webp'. Default: OutputFormat.JPEG.
        prompt (str | Unset): Text prompt for image generation. Default: ''. Example: ein fantastisches bild.
        prompt_upsampling (bool | Unset): Whether to perform upsampling on the prompt. If active, automatically modifies
            the prompt for more creative generation. Default: False.
        safety_tolerance (int | Unset): Tolerance level for input and output moderation. Between 0 and 6, 0 being most
            strict, 6 being least strict. Default: 2. Example: 2.
        seed (int | None | Unset): Optional seed for reproducibility. Example: 42.
        steps (int | None | Unset): Number of steps for the image generation process. Default: 28. Example: 28.
        webhook_secret (None | str | Unset): Optional secret for webhook signature verification
        webhook_url (None | str | Unset): URL to receive webhook notifications
        width (int | Unset): Width of the generated image in pixels. Must be a multiple of 32. Default: 1024.
    """

    guidance: float | None | Unset = 3.0
    height: int | Unset = 768
    image_prompt: None | str | Unset = UNSET
    output_format: None | OutputFormat | Unset = OutputFormat.JPEG
    prompt: str | Unset = ""
    prompt_upsampling: bool | Unset = False
    safety_tolerance: int | Unset = 2
    seed: int | None | Unset = UNSET
    steps: int | None | Unset = 28
    webhook_secret: None | str | Unset = UNSET
    webhook_url: None | str | Unset = UNSET
    width: int | Unset = 1024
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        guidance: float | None | Unset
        if isinstance(self.guidance, Unset):
            guidance = UNSET
        else:
            guidance = self.guidance

        height = self.height

        image_prompt: None | str | Unset
        if isinstance(self.image_prompt, Unset):
            image_prompt = UNSET
        else:
            image_prompt = self.image_prompt

        output_format: None | str | Unset
        if isinstance(self.output_format, Unset):
            output_format = UNSET
        elif isinstance(self.output_format, OutputFormat):
            output_format = self.output_format.value
        else:
            output_format = self.output_format

        prompt = self.prompt

        prompt_upsampling = self.prompt_upsampling

        safety_tolerance = self.safety_tolerance

        seed: int | None | Unset
        if isinstance(self.seed, Unset):
            seed = UNSET
        else:
            seed = self.seed

        steps: int | None | Unset
        if isinstance(self.steps, Unset):
            steps = UNSET
        else:
            steps = self.steps

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

        width = self.width

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if guidance is not UNSET:
            field_dict["guidance"] = guidance
        if height is not UNSET:
            field_dict["height"] = height
        if image_prompt is not UNSET:
            field_dict["image_prompt"] = image_prompt
        if output_format is not UNSET:
            field_dict["output_format"] = output_format
        if prompt is not UNSET:
            field_dict["prompt"] = prompt
        if prompt_upsampling is not UNSET:
            field_dict["prompt_upsampling"] = prompt_upsampling
        if safety_tolerance is not UNSET:
            field_dict["safety_tolerance"] = safety_tolerance
        if seed is not UNSET:
            field_dict["seed"] = seed
        if steps is not UNSET:
            field_dict["steps"] = steps
        if webhook_secret is not UNSET:
            field_dict["webhook_secret"] = webhook_secret
        if webhook_url is not UNSET:
            field_dict["webhook_url"] = webhook_url
        if width is not UNSET:
            field_dict["width"] = width

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_guidance(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        guidance = _parse_guidance(d.pop("guidance", UNSET))

        height = d.pop("height", UNSET)

        def _parse_image_prompt(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        image_prompt = _parse_image_prompt(d.pop("image_prompt", UNSET))

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

        prompt = d.pop("prompt", UNSET)

        prompt_upsampling = d.pop("prompt_upsampling", UNSET)

        safety_tolerance = d.pop("safety_tolerance", UNSET)

        def _parse_seed(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        seed = _parse_seed(d.pop("seed", UNSET))

        def _parse_steps(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        steps = _parse_steps(d.pop("steps", UNSET))

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

        width = d.pop("width", UNSET)

        flux_dev_inputs = cls(
            guidance=guidance,
            height=height,
            image_prompt=image_prompt,
            output_format=output_format,
            prompt=prompt,
            prompt_upsampling=prompt_upsampling,
            safety_tolerance=safety_tolerance,
            seed=seed,
            steps=steps,
            webhook_secret=webhook_secret,
            webhook_url=webhook_url,
            width=width,
        )

        flux_dev_inputs.additional_properties = d
        return flux_dev_inputs

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
