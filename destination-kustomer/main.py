"""Run the destination from a checkout: ``python main.py spec|check|discover|write …``."""

from destination_kustomer.run import run

if __name__ == "__main__":
    run()
