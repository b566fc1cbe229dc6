from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.finetune_detail_response import FinetuneDetailResponse
from ...models.http_validation_error import HTTPValidationError
from ...types import UNSET, Response


def _get_kwargs(
    *,
    finetune_id: str,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["finetune_id"] = finetune_id

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/finetune_details",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> FinetuneDetailResponse | HTTPValidationError | None:
    if response.status_code == 200:
        response_200 = FinetuneDetailResponse.from_dict(response.json())

        return response_200

    if response.status_code == 422:
        response_422 = HTTPValidationError.from_dict(response.json())

        return response_422

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[FinetuneDetailResponse | HTTPValidationError]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    finetune_id: str,
) -> Response[FinetuneDetailResponse | HTTPValidationError]:
    """Finetune Details

     Get details about the training parameters and other metadata connected to a specific finetune_id
    that was created by the user.

    Args:
        finetune_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[FinetuneDetailResponse | HTTPValidationError]
    """

    kwargs = _get_kwargs(
        finetune_id=finetune_id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    finetune_id: str,
) -> FinetuneDetailResponse | HTTPValidationError | None:
    """Finetune Details

     Get details about the training parameters and other metadata connected to a specific finetune_id
    that was created by the user.

    Args:
        finetune_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        FinetuneDetailResponse | HTTPValidationError
    """

    return sync_detailed(
        client=client,
        finetune_id=finetune_id,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    finetune_id: str,
) -> Response[FinetuneDetailResponse | HTTPValidationError]:
    """Finetune Details

     Get details about the training parameters and other metadata connected to a specific finetune_id
    that was created by the user.

    Args:
        finetune_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[FinetuneDetailResponse | HTTPValidationError]
    """

    kwargs = _get_kwargs(
        finetune_id=finetune_id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    finetune_id: str,
) -> FinetuneDetailResponse | HTTPValidationError | None:
    """Finetune Details

     Get details about the training parameters and other metadata connected to a specific finetune_id
    that was created by the user.

    Args:
        finetune_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        FinetuneDetailResponse | HTTPValidationError
    """

    return (
        await asyncio_detailed(
            client=client,
            finetune_id=finetune_id,
        )
    ).parsed
