from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.output_format import OutputFormat
from ..types import UNSET, Unset

T = TypeVar("T", bound="FluxProFillInputs")


@_attrs_define
class FluxProFillInputs:
    """
    Attributes:
        image (str): A Base64-encoded string representing the image you wish to modify. Can contain alpha mask if
            desired.
        guidance (float | None | Unset): Guidance strength for the image generation process Default: 60.0.
        mask (None | str | Unset): A Base64-encoded string representing a mask for the areas you want to modify in the
            image. The mask should be the same dimensions as the image and in black and white. Black areas (0%) indicate no
            modification, while white areas (100%) specify areas for inpainting. Optional if you provide an alpha mask in
            the original image. Validation: The endpoint verifies that the dimensions of the mask match the original image.
        output_format (None | OutputFormat | Unset): Output format for the generated image. Can be 'jpeg', 'png', or
            'webp'. Default: OutputFormat.JPEG.
        prompt (None | str | Unset): The description of the changes you want to make. This text guides the inpainting
            process, allowing you to specify features, styles, or modifications for the masked area. Default: ''. Example:
            ein fantastisches bild.
        prompt_upsampling (bool | None | Unset): Whether to perform upsampling on the prompt. If active, automatically
            modifies the prompt for more creative generation Default: False.
        safety_tolerance (int | Unset): Tolerance level for input and output moderation. Between 0 and 6, 0 being most
            strict, 6 being least strict. Default: 2. Example: 2.
        seed (int | None | Unset): Optional seed for reproducibility
        steps (int | None | Unset): Number of steps for the image generation process Default: 50. Example: 50.
        webhook_secret (None | str | Unset): Optional secret for webhook signature verification
        webhook_url (None | str | Unset): URL to receive webhook notifications
    """

    image: str
    guidance: float | None | Unset = 60.0
    mask: None | str | Unset = UNSET
    output_format: None | OutputFormat | Unset = OutputFormat.JPEG
    prompt: None | str | Unset = ""
    prompt_upsampling: bool | None | Unset = False
    safety_tolerance: int | Unset = 2
    seed: int | None | Unset = UNSET
    steps: int | None | Unset = 50
    webhook_secret: None | str | Unset = UNSET
    webhook_url: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        image = self.image

        guidance: float | None | Unset
        if isinstance(self.guidance, Unset):
            guidance = UNSET
        else:
            guidance = self.guidance

        mask: None | str | Unset
        if isinstance(self.mask, Unset):
            mask = UNSET
        else:
            mask = self.mask

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

        prompt_upsampling: bool | None | Unset
        if isinstance(self.prompt_upsampling, Unset):
            prompt_upsampling = UNSET
        else:
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

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "image": image,
            }
        )
        if guidance is not UNSET:
            field_dict["guidance"] = guidance
        if mask is not UNSET:
            field_dict["mask"] = mask
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

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        image = d.pop("image")

        def _parse_guidance(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        guidance = _parse_guidance(d.pop("guidance", UNSET))

        def _parse_mask(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        mask = _parse_mask(d.pop("mask", UNSET))

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

        def _parse_prompt_upsampling(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        prompt_upsampling = _parse_prompt_upsampling(d.pop("prompt_upsampling", UNSET))

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

        flux_pro_fill_inputs = cls(
            image=image,
            guidance=guidance,
            mask=mask,
            output_format=output_format,
            prompt=prompt,
            prompt_upsampling=prompt_upsampling,
            safety_tolerance=safety_tolerance,
            seed=seed,
            steps=steps,
            webhook_secret=webhook_secret,
            webhook_url=webhook_url,
        )

        flux_pro_fill_inputs.additional_properties = d
        return flux_pro_fill_inputs

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
