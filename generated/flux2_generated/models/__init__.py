"""Contains all the data models used in inputs/outputs"""

from .async_response import AsyncResponse
from .async_webhook_response import AsyncWebhookResponse
from .credits_response import CreditsResponse
from .delete_finetune_inputs import DeleteFinetuneInputs
from .delete_finetune_response import DeleteFinetuneResponse
from .finetune_detail_response import FinetuneDetailResponse
from .finetune_detail_response_finetune_details import (
    FinetuneDetailResponseFinetuneDetails,
)
from .finetune_flux_pro_fill_inputs import FinetuneFluxProFillInputs
from .finetune_flux_ultra_input import FinetuneFluxUltraInput
from .flux_2_flex_inputs import Flux2FlexInputs
from .flux_2_inputs import Flux2Inputs
from .flux_2_klein_inputs import Flux2KleinInputs
from .flux_dev_inputs import FluxDevInputs
from .flux_kontext_pro_inputs import FluxKontextProInputs
from .flux_pro_11_inputs import FluxPro11Inputs
from .flux_pro_expand_inputs import FluxProExpandInputs
from .flux_pro_fill_inputs import FluxProFillInputs
from .flux_ultra_input import FluxUltraInput
from .http_validation_error import HTTPValidationError
from .my_finetunes_response import MyFinetunesResponse
from .output_format import OutputFormat
from .result_response import ResultResponse
from .result_response_details_type_0 import ResultResponseDetailsType0
from .result_response_preview_type_0 import ResultResponsePreviewType0
from .status_response import StatusResponse
from .validation_error import ValidationError

__all__ = (
    "AsyncResponse",
    "AsyncWebhookResponse",
    "CreditsResponse",
    "DeleteFinetuneInputs",
    "DeleteFinetuneResponse",
    "FinetuneDetailResponse",
    "FinetuneDetailResponseFinetuneDetails",
    "FinetuneFluxProFillInputs",
    "FinetuneFluxUltraInput",
    "Flux2FlexInputs",
    "Flux2Inputs",
    "Flux2KleinInputs",
    "FluxDevInputs",
    "FluxKontextProInputs",
    "FluxPro11Inputs",
    "FluxProExpandInputs",
    "FluxProFillInputs",
    "FluxUltraInput",
    "HTTPValidationError",
    "MyFinetunesResponse",
    "OutputFormat",
    "ResultResponse",
    "ResultResponseDetailsType0",
    "ResultResponsePreviewType0",
    "StatusResponse",
    "ValidationError",
)
