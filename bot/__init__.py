"""The YandexArt drawing bot."""

from bot.lazy_aiogram import defer_aiogram_model_builds

defer_aiogram_model_builds()
