from psa_chatops.bot.cli import main

main()
