from django.shortcuts import render


def home(request):
    return render(request, "map_ui/home.html")
