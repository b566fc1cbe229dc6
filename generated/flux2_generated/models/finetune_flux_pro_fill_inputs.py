from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.output_format import OutputFormat
from ..types import UNSET, Unset

T = TypeVar("T", bound="FinetuneFluxProFillInputs")


@_attrs_define
class FinetuneFluxProFillInputs:
    """
    Attributes:
        finetune_id (str): Name of the LoRA to use. For LoRAs from other organizations (public or shared), use the
            format 'org-id/lora-name'. Example: my-finetune.
        image (str): A Base64-encoded string representing the image you wish to modify. Can contain alpha mask if
            desired.
        finetune_strength (float | Unset): Strength of the fine-tuned model. 0.0 means no influence, 1.0 means full
            influence. Allowed values up to 2.0 Default: 1.1.
        guidance (float | Unset): Guidance strength for the image generation process Default: 60.0.
        mask (None | str | Unset): A Base64-encoded string representing a mask for the areas you want to modify in the
            image. The mask should be the same dimensions as the image and in black and white. Black areas (0%) indicate no
            modification, while white areas (100%) specify areas for inpainting. Optional if you provide an alpha mask in
            the original image. Validation: The endpoint verifies that the dimensions of the mask match the original image.
        output_format (None | OutputFormat | Unset): Output format for the generated image. Can be 'jpeg', 'png', or
            'webp'. Default: OutputFormat.JPEG.
        prompt (str | Unset): The description of the changes you want to make. This text guides the inpainting process,
            allowing you to specify features, styles, or modifications for the masked area. Default: ''. Example: ein
            fantastisches bild.
        prompt_upsampling (bool | Unset): Whether to perform upsampling on the prompt. If active, automatically modifies
            the prompt for more creative generation Default: False.
        safety_tolerance (int | Unset): Tolerance level for input and output moderation. Between 0 and 6, 0 being most
            strict, 6 being least strict. Default: 2. Example: 2.
        seed (int | None | Unset): Optional seed for reproducibility
        steps (int | Unset): Number of steps for the image generation process Default: 50. Example: 50.
        webhook_secret (None | str | Unset): Optional secret for webhook signature verification
        webhook_url (None | str | Unset): URL to receive webhook notifications
    """

    finetune_id: str
    image: str
    finetune_strength: float | Unset = 1.1
    guidance: float | Unset = 60.0
    mask: None | str | Unset = UNSET
    output_format: None | OutputFormat | Unset = OutputFormat.JPEG
    prompt: str | Unset = ""
    prompt_upsampling: bool | Unset = False
    safety_tolerance: int | Unset = 2
    seed: int | None | Unset = UNSET
    steps: int | Unset = 50
    webhook_secret: None | str | Unset = UNSET
    webhook_url: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        finetune_id = self.finetune_id

        image = self.image

        finetune_strength = self.finetune_strength

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

        prompt = self.prompt

        prompt_upsampling = self.prompt_upsampling

        safety_tolerance = self.safety_tolerance

        seed: int | None | Unset
        if isinstance(self.seed, Unset):
            seed = UNSET
        else:
            seed = self.seed

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
                "finetune_id": finetune_id,
                "image": image,
            }
        )
        if finetune_strength is not UNSET:
            field_dict["finetune_strength"] = finetune_strength
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
        finetune_id = d.pop("finetune_id")

        image = d.pop("image")

        finetune_strength = d.pop("finetune_strength", UNSET)

        guidance = d.pop("guidance", UNSET)

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

        steps = d.pop("steps", UNSET)

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

        finetune_flux_pro_fill_inputs = cls(
            finetune_id=finetune_id,
            image=image,
            finetune_strength=finetune_strength,
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

        finetune_flux_pro_fill_inputs.additional_properties = d
        return finetune_flux_pro_fill_inputs

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
